"""Reading `/segment …` text (bot/commands.py): pure, no Slack, no database."""
import pytest

from bot.commands import Command, parse, plain
from core.errors import BadInput
from tests.bot_standin import slack_escape


def p(text):
    """Parse TEXT as Slack sends it (escaped)."""
    return parse(slack_escape(text))


def test_nothing_or_help_is_help():
    assert parse("").op == "help"
    assert parse("   ").op == "help"
    assert parse("help split") == Command("help", text="split")


def test_an_unknown_subcommand_answers_with_help():
    assert parse("frobnicate the list") == Command("help", unknown="frobnicate")


@pytest.mark.parametrize("text", [
    'show "Kyiv women"', "show Kyiv women", "SHOW   Kyiv    women", "Show 'Kyiv women'",
    "show \u201cKyiv women\u201d", "show\u00a0Kyiv women",
])
def test_names_quoted_or_not_any_case_extra_spaces(text):
    assert p(text) == Command("show", segment="Kyiv women")


def test_ids_are_names_too():
    assert p("refresh #12") == Command("refresh", segment="#12")


def test_create_list_and_dynamic():
    assert p('create list "Do not contact"') == Command("create_list", name="Do not contact")
    cmd = p('create dynamic "Kyiv women" where gender = female and orders.total > 300')
    assert cmd == Command("create_dynamic", name="Kyiv women", condition="gender = female and orders.total > 300")
    # the condition is taken as typed, entities and all
    cmd = p('create dynamic VIP where email ends with @gmail.com and city != "A & B"')
    assert cmd.condition == 'email ends with @gmail.com and city != "A & B"'


def test_create_alone_opens_the_form():
    assert p("create") == Command("create")
    assert p("create list") == Command("create", kind="list")


def test_create_needs_its_parts():
    with pytest.raises(BadInput, match="where"):
        p("create dynamic Kyiv women")
    with pytest.raises(BadInput, match="which kind"):
        p("create Kyiv women")
    with pytest.raises(BadInput, match="no condition"):
        p("create list VIP where x = 1")


def test_linkified_text_in_a_condition_is_what_was_typed():
    raw = "create dynamic Gmail where email ends with <http://gmail.com|gmail.com> and orders.total &gt; 3"
    assert parse(raw).condition == "email ends with gmail.com and orders.total > 3"


def test_preview_with_or_without_where():
    assert p("preview where region = Kyiv").condition == "region = Kyiv"
    assert p("preview birthday in next 7 days").condition == "birthday in next 7 days"
    with pytest.raises(BadInput):
        p("preview")


def test_copy_with_and_without_a_name():
    assert p('copy "Kyiv women"') == Command("copy", segment="Kyiv women")
    assert p("copy Kyiv women as Kyiv women 2") == Command("copy", segment="Kyiv women", name="Kyiv women 2")


def test_split_forms():
    assert p('split "Kyiv women" into 3') == Command("split", segment="Kyiv women", parts=3)
    assert p("split Kyiv women 50/30/20 seed 42 by gender") == Command(
        "split", segment="Kyiv women", percents="50/30/20", seed=42, by="gender")
    assert p("split VIP 10% SEED 7").percents == "10%"
    assert p('split VIP into 2 names "VIP, one", VIP two').names == ("VIP, one", "VIP two")
    with pytest.raises(BadInput):
        p("split VIP")
    with pytest.raises(BadInput, match="not understood"):
        p("split VIP into 2 colour red")


def test_export_forms():
    assert p('export "Kyiv women" csv') == Command("export_csv", segment="Kyiv women")
    assert p("export Kyiv women CSV email, first_name custom.tier").fields == ("email", "first_name", "custom.tier")
    assert p('export VIP to list "VIP, March"') == Command("export_list", segment="VIP", name="VIP, March")
    with pytest.raises(BadInput):
        p("export VIP")


def test_delete_with_contacts():
    assert p("delete Old test") == Command("delete", segment="Old test")
    assert p("delete Spam traps WITH Contacts") == Command("delete", segment="Spam traps", with_contacts=True)
    assert p('delete "with contacts"') == Command("delete", segment="with contacts")


def test_add_and_remove_read_escaped_emails():
    raw = "add VIP list <mailto:ann@example.com|ann@example.com>, <mailto:Bob@Example.com|Bob@Example.com>"
    assert parse(raw) == Command("add", segment="VIP list", emails=("ann@example.com", "Bob@Example.com"))
    assert p("remove VIP a@x.io b@x.io").emails == ("a@x.io", "b@x.io")
    with pytest.raises(BadInput):
        p("add VIP")


def test_why_either_order():
    assert p('why ann@example.com "Kyiv women"') == Command("why", emails=("ann@example.com",), segment="Kyiv women")
    assert p("why Kyiv women ann@example.com").segment == "Kyiv women"


def test_subscribe_reads_channel_mentions():
    assert parse("subscribe Kyiv women <#C0NEWS123|news>") == Command(
        "subscribe", segment="Kyiv women", channel="C0NEWS123")
    assert parse("subscribe VIP <#C0NEWS123|>").channel == "C0NEWS123"
    assert p("unsubscribe VIP #marketing") == Command("unsubscribe", segment="VIP", channel="#marketing")
    assert p("subscribe VIP") == Command("subscribe", segment="VIP")
    assert p("subscribe #12") == Command("subscribe", segment="#12")  # an id, not a channel
    assert p("subscribe VIP #C0NEWS123").channel == "C0NEWS123"


def test_mentions_in_names_become_plain_text():
    assert plain("<@U123|bob> &amp; <!channel> <#C1|general> <!subteam^S1|@team>") == "@bob & @channel #general @team"
    assert plain("<@U123>") == "@U123"
    assert parse("create list Promo <!here>").name == "Promo @here"


def test_an_unclosed_quote_is_a_clear_error():
    with pytest.raises(BadInput, match="quote"):
        p('show "Kyiv women')


@pytest.mark.parametrize("text", ["\x00", "<<<>>>", "\"'\"'", "split", "export", "why", "add", "<", "&amp;"])
def test_strange_input_never_crashes(text):
    try:
        parse(text)
    except BadInput:
        pass


from hypothesis import given, settings, strategies as st  # noqa: E402


PIECES = list("ab #@<>|&;\"'\u201c\u201d/%,.1") + [
    " where ", " as ", " into ", " csv", " to list ", "split ", "add ", "why ", "subscribe ", "<#C0X1234|x>"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=25).map("".join))
def test_any_text_is_a_command_or_a_bad_input(text):
    try:
        assert isinstance(parse(text), Command)
    except BadInput:
        pass
