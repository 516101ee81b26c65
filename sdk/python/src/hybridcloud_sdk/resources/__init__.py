"""One resource class per OpenAPI tag. A new endpoint is a method returning a ``Call`` in the
tag's ``*Calls`` class plus a one-line method on the sync (and async) resource."""
