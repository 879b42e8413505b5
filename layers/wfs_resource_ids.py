"""Features asked for by identifier, as clients ask: RESOURCEID across feature types, and WFS 1.1's FEATUREID.

- WFS 2.0 lets RESOURCEID stand alone, the feature types taken from the identifiers, and a client asking for the
  features a change feed names (``parcels.12``, ``streets.7``) lists them in one request. django-gisserver read such
  a list as one query over two types, a join, and refused it ("Join queries are not supported"). Here the list is
  split into one query per type before it is parsed, as the request's parameter lists would write it
  (``TYPENAMES=(parcels)(streets)&RESOURCEID=(parcels.12)(streets.7)``): each type's features, in the order the
  types first appear, counted and paged over all the queries together (``layers/wfs_paging.py``).
- OWSLib's ``getfeature(featureid=[…])`` sends WFS 1.1's FEATUREID to a WFS 2.0 service too, and was told "Empty
  TYPENAMES parameter" (beside TYPENAMES, FEATUREID was ignored: every feature of the type came back). FEATUREID is
  read as RESOURCEID when there is no RESOURCEID, as GeoServer does, with its rules: not beside BBOX, FILTER or a
  stored query.
"""

from __future__ import annotations

from copy import copy

from django.utils.functional import classproperty
from gisserver.exceptions import InvalidParameterValue, MissingParameterValue
from gisserver.parsers import wfs20 as wfs20_parsers
from gisserver.parsers.ows import KVPRequest, resolve_xml_parser_class
from gisserver.parsers.xml import NSElement


def resource_ids_by_type(kvp: KVPRequest) -> KVPRequest:
    """Return ``kvp`` with FEATUREID read as RESOURCEID, and a RESOURCEID of several types without TYPENAMES split
    into one query per type; any other request as it is. Without TYPENAMES, refuse an empty list or an identifier
    that names no type (django-gisserver failed on both: an IndexError, an AttributeError)."""
    params, sent_as = dict(kvp.params), "RESOURCEID"
    if "RESOURCEID" not in params and "FEATUREID" in params:
        params["RESOURCEID"], sent_as = params.pop("FEATUREID"), "FEATUREID"
    resource_ids = params.get("RESOURCEID")
    if resource_ids is not None and not resource_ids.startswith("(") and not {"TYPENAMES", "TYPENAME"} & set(params):
        if not resource_ids:
            raise MissingParameterValue(
                f"{sent_as} is empty: name the features by their gml:id (parcels.12).", locator="resourceId"
            )
        by_type: dict[str, list[str]] = {}  # by its spelling: app:parcels.1 and parcels.1 are two queries' features
        for resource_id in resource_ids.split(","):
            type_name = resource_id.rpartition(".")[0]
            if not type_name or "(" in resource_id or ")" in resource_id:  # a bracket would make a parameter list
                raise InvalidParameterValue(
                    f"{sent_as}: the identifier '{resource_id}' names no feature type: without TYPENAMES, write it as"
                    " the features' gml:id, <type>.<id> (parcels.12).",
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
    def from_xml(cls, element: NSElement):
        """A POST as django-gisserver parses it without a parser class: by its root tag, its namespace checked."""
        return resolve_xml_parser_class(element).from_xml(element)

    @classmethod
    def base_kvp_init_parameters(cls, kvp: KVPRequest):
        return super().base_kvp_init_parameters(resource_ids_by_type(kvp))
