"""What both fakes share and nothing else: the clock, the waker timeline, errors and codes.

The core imports nothing else of the package (``tests/test_architecture.py`` checks it).
"""
