"""The next and previous pages of a GetFeature sent as XML (POST), as addresses a client can follow (GET).

django-gisserver writes a POST request's paging links from its parsed request (``as_kvp``), which
- names the type in Clark notation (``TYPENAMES={https://geoportal.example/wfs}parcels``), which the KVP parser
  refuses, so the ``next`` link of every POST answered a 400;
- gives no link at all for a query with a filter (``as_kvp`` raises NotImplementedError), so a client following
  links stopped after the first 5,000 of 13,892 features, with no sign the answer was cut.

Here a POST of one query is written back as KVP: the type names as the service's own unprefixed names, the filter as
the ``FILTER`` parameter (the request's own ``fes:Filter`` element, serialized), and every namespace prefix the
request declared as ``NAMESPACES``, so that a prefix used inside the filter's text (``app:land_use``) still resolves.
A request of several queries, or whose link would pass URL_MAX_CHARACTERS (the front server refuses longer request
lines), gets no link; its ``numberMatched`` still says how many there are, and the client asks again with a higher
``startIndex``.
"""

from __future__ import annotations

import dataclasses
import io
from urllib.parse import urlencode
from xml.etree.ElementTree import tostring

from defusedxml.ElementTree import fromstring, iterparse
from gisserver.parsers.wfs20 import AdhocQuery

WFS = "{http://www.opengis.net/wfs/2.0}"
FES = "{http://www.opengis.net/fes/2.0}"
URL_MAX_CHARACTERS = 8000  # nginx's default large_client_header_buffers holds a request line of 8 KB


def post_page_link(*, ows_request, body: bytes, namespace: str, server_url: str, updates: dict) -> str | None:
    """The address of another page (``updates``: STARTINDEX and COUNT) of the POST ``ows_request``, or None."""
    parameters = _post_as_kvp(ows_request, body, namespace)
    if parameters is None:
        return None
    url = f"{server_url}?{urlencode({**parameters, **updates})}"
    return url if len(url) <= URL_MAX_CHARACTERS else None


def _post_as_kvp(ows_request, body: bytes, namespace: str) -> dict | None:
    queries = getattr(ows_request, "queries", None) or []
    if len(queries) != 1:
        return None
    query = queries[0]
    filter_xml = None
    if isinstance(query, AdhocQuery):
        own_names = [_own_type_name(name, namespace) for name in query.typeNames]
        if None in own_names:
            return None
        query = dataclasses.replace(query, typeNames=own_names)
        if query.filter is not None:
            filter_xml = _filter_element_text(body)
            if filter_xml is None:
                return None
            query = dataclasses.replace(query, filter=None)
    try:
        parameters = dataclasses.replace(ows_request, queries=[query]).as_kvp()
    except NotImplementedError:  # a stored query's parameters it cannot write back
        return None
    if filter_xml is not None:
        parameters["FILTER"] = filter_xml
        declared = _declared_prefixes(body)
        if declared:
            parameters["NAMESPACES"] = ",".join(f"xmlns({prefix},{uri})" for prefix, uri in declared.items())
    return parameters


def _own_type_name(name: str, namespace: str) -> str | None:
    """``{namespace}parcels`` as ``parcels``; a name of another namespace as None (the service has none)."""
    if name.startswith("{"):
        uri, _, local = name[1:].partition("}")
        return local if uri == namespace else None
    return name.rpartition(":")[2] or None


def _filter_element_text(body: bytes) -> str | None:
    """The request's one ``wfs:Query/fes:Filter``, as XML text that declares the namespaces of its own tags."""
    filters = fromstring(body).findall(f"{WFS}Query/{FES}Filter")
    return tostring(filters[0], encoding="unicode") if len(filters) == 1 else None


def _declared_prefixes(body: bytes) -> dict[str, str]:
    """Every prefix the request declares, with its namespace (the first declaration of a prefix wins)."""
    declared: dict[str, str] = {}
    for _event, (prefix, uri) in iterparse(io.BytesIO(body), events=("start-ns",)):
        if prefix and "," not in prefix + uri and ")" not in prefix + uri:  # NAMESPACES' own separators
            declared.setdefault(prefix, uri)
    return declared
