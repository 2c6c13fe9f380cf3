"""Thin mode (benchmarks): the same contract and counters, canned images, no image work."""

from collections.abc import Callable
from typing import Any

from .support import BLUE, Client, colour, decode


def test_thin_mode_answers_the_contract_with_canned_images_and_still_reads_pic_url(
    client: Client, body: Callable[..., dict[str, Any]], source: Any
) -> None:
    client.admin("config", {"thin": True})
    seen = len(source.seen)

    made = client.make(body(background_color=[colour(BLUE, "blue"), colour(0xFFFFFF, "white")])).json()

    assert made["code"] == 200
    assert [n[-4:] for n in made["final_pic_name"]] == ["blue", "hite"]
    assert len(source.seen) == seen + 1, "the upload is still downloaded, as the vendor does"
    final = client.get_pic(made["final_pic_name"][0]).json()
    photo = decode(Client.fetch(final["file_name"]).content)
    assert photo.shape[:2] == (531, 413), "the canned photo"
    assert client.admin("stats")["billed_calls"] == 1


def test_thin_mode_is_off_after_a_reset_and_refuses_non_booleans(client: Client) -> None:
    client.admin("config", {"thin": True})
    client.admin("reset", {})
    assert client.admin("config")["thin"] is False
    response = client.http.post(f"{client.base}/_admin/config", json={"thin": "yes"})
    assert response.status_code == 400
