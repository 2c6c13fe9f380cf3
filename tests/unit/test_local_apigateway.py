"""The local API Gateway's event rules: routing on the encoded path, pathParameters either way."""

from __future__ import annotations

import pytest

from local.stack.apigateway import PATH_PARAMETERS_ENV, compile_routes, find_route, path_parameters_mode
from local.stack.template import RouteSpec

ROUTES = compile_routes([RouteSpec("GetPhoto", "Api", "/photos/{key+}", "GET", "GetPhotoFunction")])


@pytest.mark.parametrize(
    ("decode", "expected"),
    [(True, "uploads/100% sure+1 张.jpg"), (False, "uploads/100%25%20sure+1%20%E5%BC%A0.jpg")],
)
def test_path_parameters_come_decoded_once_or_as_the_client_encoded_them(decode: bool, expected: str) -> None:
    found = find_route(ROUTES, "GET", "/photos/uploads/100%25%20sure+1%20%E5%BC%A0.jpg", decode=decode)

    assert found is not None
    assert found[1] == {"key": expected}


def test_the_mode_switch_defaults_to_decoded_and_refuses_unknown_values() -> None:
    assert path_parameters_mode({}) == "decoded"
    assert path_parameters_mode({PATH_PARAMETERS_ENV: "Encoded"}) == "encoded"
    with pytest.raises(ValueError, match=PATH_PARAMETERS_ENV):
        path_parameters_mode({PATH_PARAMETERS_ENV: "both"})
