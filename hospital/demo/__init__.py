"""The demo hospital: a deterministic generator of fake but plausible data, and its loader.

``python -m hospital.demo.generate`` writes ``floorplans/`` and ``fixtures/demo/`` (no Django needed);
``manage.py load_demo`` loads them (``hospital.demo.loader``). St. Example General Hospital is fictional.
"""
