"""The core's own trigger types, registered as plugins like any third party's."""
