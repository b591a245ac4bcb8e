"""The pieces of the local model's grammar that need no model: every unbounded string gets a length
bound (a small model looping inside a string otherwise runs to the token limit), and renaming a
rule leaves quoted text alone."""

from __future__ import annotations

from ipyagent.dispatch.backends.local.grammar import MAX_STRING, bounded, choice_grammar, rename_rule


def test_every_unbounded_string_gets_a_length_bound_nested_ones_too() -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "code": {"type": "string", "maxLength": 3},
            "id": {"type": "string", "pattern": "^[a-z]+$"},
            "mode": {"type": "string", "enum": ["car", "train"]},
            "stops": {"type": "array", "items": {"type": "string"}},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "n": {"type": "integer"},
        },
    }
    out = bounded(schema)
    props = out["properties"]
    assert props["city"] == {"type": "string", "maxLength": MAX_STRING}
    assert props["code"] == {"type": "string", "maxLength": 3}
    assert props["id"] == {"type": "string", "pattern": "^[a-z]+$"}
    assert props["mode"] == {"type": "string", "enum": ["car", "train"]}
    assert props["stops"]["items"] == {"type": "string", "maxLength": MAX_STRING}
    assert props["either"]["anyOf"] == [{"type": "string", "maxLength": MAX_STRING}, {"type": "integer"}]
    assert props["n"] == {"type": "integer"}
    assert schema["properties"]["city"] == {"type": "string"}  # the tool's own schema is left as it was
    assert MAX_STRING == 200


def test_renaming_a_rule_leaves_quoted_text_and_other_names_alone() -> None:
    # Its sub-rules ("root-item") follow it, where defined and where used alike.
    gbnf = 'root ::= "root" root-item root\nroot-item ::= "x\\" root" [a-z]\nmyroot ::= rooted root'
    assert rename_rule(gbnf, "root", "call-json") == (
        'call-json ::= "root" call-json-item call-json\n'
        'call-json-item ::= "x\\" root" [a-z]\n'
        "myroot ::= rooted call-json"
    )


def test_a_choice_is_exactly_one_of_the_names() -> None:
    assert choice_grammar(["get_weather", 'say "hi"']) == 'root ::= "get_weather" | "say \\"hi\\""\n'
