"""The built-in providers, registered under the entry-point group ``pqlcli.providers`` exactly like a
third party's: ``clearbit`` (the Clearbit Company API over httpx), ``stub`` (the embedded
Clearbit-compatible server, the offline default) and ``file`` (a local firmographics file). They share
:mod:`.parsing` (normalising amounts, ranges, countries, the Clearbit JSON shape, firmographics files)
and :mod:`.pacing` (clock, rate limiter, retry timing)."""
