"""The core's own engine adapters, registered as plugins like any third party's."""
