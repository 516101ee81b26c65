"""Wire-level fakes of the clouds' APIs, used to drive the real SDKs in tests."""
