"""The portal's pages."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from layers.selectors import layer_counts


def home_view(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/home.html", {"layer_counts": layer_counts()})
