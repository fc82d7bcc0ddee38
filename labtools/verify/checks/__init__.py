"""The shipped checks of the labs (run by ``lab.verify`` through labtools.verify.run)."""
