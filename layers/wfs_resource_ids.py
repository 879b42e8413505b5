"""Features asked for by identifier, as clients ask: RESOURCEID across feature types, and WFS 1.1's FEATUREID.

- WFS 2.0 lets RESOURCEID stand alone, the feature types taken from the identifiers, and a client asking for the
  features a change feed names (``parcels.12``, ``streets.7``) lists them in one request. django-gisserver read such
  a list as one query over two types, a join, and refused it ("Join queries are not supported"). Here the list is
  split into one query per type before it is parsed, as the request's parameter lists would write it
  (``TYPENAMES=(parcels)(streets)&RESOURCEID=(parcels.12)(streets.7)``): each type's features, in the order the
  types first appear, counted and paged over all the queries together (``layers/wfs_paging.py``).
- OWSLib's ``getfeature(featureid=[…])`` sends WFS 1.1's FEATUREID to a WFS 2.0 service too, and was told "Empty
  TYPENAMES parameter". FEATUREID is read as RESOURCEID when there is no RESOURCEID, as GeoServer does.
"""

from __future__ import annotations

from copy import copy

from django.utils.functional import classproperty
from gisserver.exceptions import InvalidParameterValue, MissingParameterValue
from gisserver.parsers import wfs20 as wfs20_parsers
from gisserver.parsers.ows import KVPRequest


def resource_ids_by_type(kvp: KVPRequest) -> KVPRequest:
    """Return ``kvp`` with FEATUREID read as RESOURCEID, and a RESOURCEID of several types without TYPENAMES split
    into one query per type; any other request as it is. Refuse an identifier without a type where no TYPENAMES gives
    it one."""
    params = dict(kvp.params)
    if "RESOURCEID" not in params and "FEATUREID" in params:
        params["RESOURCEID"] = params.pop("FEATUREID")
    resource_ids = params.get("RESOURCEID")
    if resource_ids == "":  # django-gisserver failed on it (an IndexError)
        raise MissingParameterValue(
            "RESOURCEID is empty: name the features by their gml:id (parcels.12).", locator="resourceId"
        )
    if resource_ids and not resource_ids.startswith("(") and "TYPENAMES" not in params and "TYPENAME" not in params:
        by_type: dict[str, list[str]] = {}
        for resource_id in resource_ids.split(","):
            type_name = resource_id.rpartition(".")[0]
            # No type: django-gisserver failed on it (an AttributeError). A bracket would make a parameter list.
            if not type_name or "(" in resource_id or ")" in resource_id:
                raise InvalidParameterValue(
                    f"The identifier '{resource_id}' names no feature type: without TYPENAMES, write it as the"
                    " features' gml:id, <type>.<id> (parcels.12).",
                    locator="resourceId",
                )
            by_type.setdefault(type_name, []).append(resource_id)
        if len(by_type) > 1:
            params["TYPENAMES"] = "".join(f"({type_name})" for type_name in by_type)
            params["RESOURCEID"] = "".join(f"({','.join(ids)})" for ids in by_type.values())
    if params == kvp.params:
        return kvp
    read = copy(kvp)
    read.params = params
    return read


class GetFeatureRequest(wfs20_parsers.GetFeature):
    """The GetFeature request, its identifiers read as the module docstring says. (GetPropertyValue, which answers one
    query only, still refuses a RESOURCEID of several types.)"""

    @classproperty
    def xml_name(cls) -> str:  # a subclass starts with no tag of its own (AstNode.__init_subclass__)
        return wfs20_parsers.GetFeature.xml_name

    @classmethod
    def base_kvp_init_parameters(cls, kvp: KVPRequest):
        return super().base_kvp_init_parameters(resource_ids_by_type(kvp))
