"""One module per delivery source; importing this package registers them all."""

from . import governorates, imagery, neighbouring_land, permits, planning, survey  # noqa: F401
