"""The project's own exchange: a matching core, price sources, a clock and protocol faces on 127.0.0.1.

Paper mode and the tests run the real exchange SDKs against it, so the code path is the live one.
"""
