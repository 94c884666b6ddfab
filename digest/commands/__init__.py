"""The sub-commands of ``digest``, grouped by what they act on; cli.py registers them."""
