"""The copy tests' desk (a real adapter over HTTP against its simulator face, per brokerage), for ledger tests."""

from tests.copy.conftest import desk as desk  # the fixture, registered for this folder
