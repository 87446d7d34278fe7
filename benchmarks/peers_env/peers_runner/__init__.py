"""The peers' side of ``make bench``: Nixtla mlforecast / statsforecast and causalml.

Runs only in this folder's own uv environment (``benchmarks/peers_env``), never in the
service's. It reads the dataset in the contract format plus the small ``spec.json`` and row
files that ``benchmarks/peers.py`` writes into an exchange folder, and writes prediction files
there for ``benchmarks/peers.py`` to score with the service's own metric code.
"""
