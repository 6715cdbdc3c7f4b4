"""One typed settings object, built once at the boundary (CLI, flow) and passed down.

Values come from, highest first: explicit arguments, ``MMINDEX_*`` environment variables, the
project config file (the nearest ``mmindex.toml`` in the working directory or a folder above
it, or the file named by ``MMINDEX_CONFIG``; a relative ``db`` there is relative to the file's
folder), then the defaults below. Nothing else in the library reads ``os.environ``.

:func:`load_settings` is how the boundary builds them: a bad value anywhere (a flag, a variable, a
key in the file) becomes one :class:`~mmindex.errors.ConfigError` that says where it came from;
:func:`value_sources` tells, per setting, which of those places decided its value.
"""

from mmindex.config.loading import load_settings, value_sources
from mmindex.config.settings import DEVICES, SECRET_FIELDS, SECRET_VALUES, Settings
from mmindex.config.sources import config_file

__all__ = ["DEVICES", "SECRET_FIELDS", "SECRET_VALUES", "Settings", "config_file",
           "load_settings", "value_sources"]
