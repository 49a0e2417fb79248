"""Delivering replies after the ack (bot/replies.py): response_url first, Web API after."""
import pytest

from bot.blocks import notice
from bot.replies import Replier, web_client
from tests.bot_standin import BOT_TOKEN
from tests.slack_standin import Answer, slack_standin  # noqa: F401 (fixture)


@pytest.fixture
def replier(slack_standin):  # noqa: F811
    client = web_client(BOT_TOKEN, slack_standin.api_url.rstrip("/"))  # a base URL without its slash works too
    return Replier(client, response_url=slack_standin.response_url("r1"), channel="C0MARKETING", user="U0ALICE")


def test_a_response_url_is_used_at_most_five_times(replier, slack_standin):  # noqa: F811
    for i in range(7):
        replier.send(notice(f"message {i}", public=i % 2 == 0))
    assert [b["text"] for b in slack_standin.responses["r1"]] == [f"message {i}" for i in range(5)]
    assert [m["text"] for m in slack_standin.messages("C0MARKETING")] == ["message 6"]
    (ephemeral,) = slack_standin.calls("chat.postEphemeral")
    assert ephemeral.params["user"] == "U0ALICE" and ephemeral.params["text"] == "message 5"


def test_an_expired_response_url_falls_back_to_the_web_api(replier, slack_standin):  # noqa: F811
    slack_standin.script("response", Answer(404, "expired_url"))
    replier.send(notice("late news", public=True))
    replier.send(notice("later news", public=True))
    assert [m["text"] for m in slack_standin.messages("C0MARKETING")] == ["late news", "later news"]
    assert len(slack_standin.calls("response")) == 1  # never tried again


def test_a_rate_limited_response_url_is_retried_after_retry_after(replier, slack_standin):  # noqa: F811
    slack_standin.rate_limit("response", times=1, retry_after=1)
    replier.send(notice("patience"))
    calls = slack_standin.calls("response")
    assert [c.status for c in calls] == [429, 200] and calls[1].at - calls[0].at >= 1.0
    assert slack_standin.messages() == []


def test_a_channel_that_refuses_us_gets_a_direct_message_instead(slack_standin):  # noqa: F811
    slack_standin.channel_error("C0PRIVATE", "not_in_channel")
    r = Replier(web_client(BOT_TOKEN, slack_standin.api_url), response_url=None, channel="C0PRIVATE", user="U0ALICE")
    r.send(notice("created", public=True))
    assert [m["channel"] for m in slack_standin.messages()] == ["U0ALICE"]
