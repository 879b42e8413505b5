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
- A feature named twice, or its type spelled with and without the service's prefix (``parcels.1,app:parcels.1``),
  comes back once: the identifiers are grouped by type and written in one spelling, with TYPENAMES or without.
  Lists in brackets beside a split RESOURCEID (``PROPERTYNAME=(number)(name_en)``) are one a type, in the order the
  types are first named; another count is refused naming the parameter the client sent.
"""

from __future__ import annotations

from copy import copy

from django.utils.functional import classproperty
from gisserver.exceptions import InvalidParameterValue, MissingParameterValue
from gisserver.parsers import wfs20 as wfs20_parsers
from gisserver.parsers.ows import KVPRequest, resolve_xml_parser_class
from gisserver.parsers.xml import NSElement


def resource_ids_by_type(kvp: KVPRequest) -> KVPRequest:
    """Return ``kvp`` with FEATUREID read as RESOURCEID, each type's identifiers spelled one way, and a RESOURCEID of
    several types without TYPENAMES split into one query per type; any other request as it is. Without TYPENAMES,
    refuse an empty list or an identifier that names no type (django-gisserver failed on both: an IndexError, an
    AttributeError)."""
    params, sent_as = dict(kvp.params), "RESOURCEID"
    if "RESOURCEID" not in params and "FEATUREID" in params:
        params["RESOURCEID"], sent_as = params.pop("FEATUREID"), "FEATUREID"
    resource_ids = params.get("RESOURCEID")
    if resource_ids is None or resource_ids.startswith("("):
        return _with_params(kvp, params)
    with_types = bool({"TYPENAMES", "TYPENAME"} & set(params))
    if not resource_ids and not with_types:
        raise MissingParameterValue(
            f"{sent_as} is empty: name the features by their gml:id (parcels.12).", locator="resourceId"
        )
    by_type = _ids_by_type(resource_ids, kvp.ns_aliases, sent_as, typed=not with_types)
    if with_types or len(by_type) == 1:  # one query, as django-gisserver reads it: only the spellings change
        params["RESOURCEID"] = ",".join(resource_id for _spelling, ids in by_type.values() for resource_id in ids)
    else:
        _lists_per_type_check(params, len(by_type), sent_as)
        params["TYPENAMES"] = "".join(f"({spelling})" for spelling, _ids in by_type.values())
        params["RESOURCEID"] = "".join(f"({','.join(ids)})" for _spelling, ids in by_type.values())
    return _with_params(kvp, params)


def _ids_by_type(resource_ids: str, ns_aliases: dict[str, str], sent_as: str, *, typed: bool):
    """Group the identifiers by feature type, however its name is spelled (app:parcels.1 and parcels.1 are one
    feature, asked for once), each group written in its first spelling: for one query's identifiers spelled two
    ways, django-gisserver added a lookup per spelling to the same type, and found nothing. ``typed``: each
    identifier must name its type (beside TYPENAMES an identifier may be a bare id, kept as it is)."""
    from .wfs import XML_NAMESPACE  # wfs.py imports this module

    own_prefixes = {prefix for prefix, namespace in ns_aliases.items() if namespace == XML_NAMESPACE}
    by_type: dict[str | None, tuple[str, list[str]]] = {}  # key: (the first spelling, the identifiers)
    seen: set[str] = set()  # a set beside the lists: thousands of identifiers are not compared pair by pair
    for resource_id in resource_ids.split(","):
        type_name, _, feature = resource_id.rpartition(".")
        if typed and (not type_name or "(" in resource_id or ")" in resource_id):  # a bracket: a parameter list
            raise InvalidParameterValue(
                f"{sent_as}: the identifier '{resource_id}' names no feature type: without TYPENAMES, write it as"
                " the features' gml:id, <type>.<id> (parcels.12).",
                locator="resourceId",
            )
        key = _type_key(type_name, own_prefixes) if type_name else None
        spelling, ids = by_type.setdefault(key, (type_name, []))
        written = f"{spelling}.{feature}" if type_name else resource_id
        if written not in seen:
            seen.add(written)
            ids.append(written)
    return by_type


def _with_params(kvp: KVPRequest, params: dict[str, str]) -> KVPRequest:
    if params == kvp.params:
        return kvp
    read = copy(kvp)
    read.params = params
    return read


def _type_key(type_name: str, own_prefixes: set[str]) -> str:
    """A feature type's name without a prefix that names the service's namespace (``app:``, or one the client
    declared in NAMESPACES); a name with another prefix as it is (django-gisserver resolves it, or says its namespace
    is not declared)."""
    prefix, _, local_name = type_name.rpartition(":")
    return local_name if not prefix or prefix in own_prefixes else type_name


def _lists_per_type_check(params: dict[str, str], types: int, sent_as: str) -> None:
    """Refuse a parameter given as lists in brackets, one per query (``PROPERTYNAME=(number)(name_en)``), whose count
    is not that of the types named: django-gisserver's message named the TYPENAMES the client had not written. A
    value without brackets is for every type, as django-gisserver reads it (``KVPRequest.split_parameter_lists``)."""
    for name, value in params.items():
        if value.startswith("(") and value.endswith(")") and (count := len(value[1:-1].split(")("))) != types:
            raise InvalidParameterValue(
                f"{name} holds {count} lists in brackets, and the {sent_as} names {types} feature types: give one"
                " list a type, in the order the types are first named, or one value without brackets for all.",
                locator=name.lower(),
            )


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
