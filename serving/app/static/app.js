// Draws every chart whose Plotly figure the server put in data-figure, on the first
// page load and in every fragment htmx swaps in. Nothing else runs in the page.
(function () {
  "use strict";
  function draw(root) {
    var charts = root.querySelectorAll ? root.querySelectorAll(".chart[data-figure]") : [];
    if (root.matches && root.matches(".chart[data-figure]")) charts = [root].concat([].slice.call(charts));
    [].forEach.call(charts, function (el) {
      var figure = JSON.parse(el.getAttribute("data-figure"));
      el.removeAttribute("data-figure");
      Plotly.newPlot(el, figure.data, figure.layout, figure.config).then(function () {
        el.setAttribute("data-drawn", "true");
      });
    });
  }
  htmx.onLoad(draw);
})();
