"""One module per delivery source; importing this package registers them all."""

from . import governorates, imagery, permits, planning, survey  # noqa: F401
