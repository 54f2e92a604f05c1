"""The chat templates Florence-VL was trained with, as configuration.

Copied as strings from the authors' conversation templates (see FLORENCE_VL.md): a prompt is
system + sep + user role + `<image>\\n` + question + sep + assistant role. The separator also
ends the assistant's turn, so it is a stop token for generation.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGE_PLACEHOLDER = "<image>"


@dataclass(frozen=True)
class ChatTemplate:
    name: str
    system: str
    sep: str
    user_role: str
    assistant_role: str

    def prompt(self, question: str) -> str:
        """One user turn about one image, ready for the assistant's answer."""
        if IMAGE_PLACEHOLDER in question:
            raise ValueError(f"question must not contain {IMAGE_PLACEHOLDER!r}: {question!r}")
        return (
            f"{self.system}{self.sep}{self.user_role}{IMAGE_PLACEHOLDER}\n"
            f"{question}{self.sep}{self.assistant_role}"
        )

    @property
    def special_tokens(self) -> tuple[str, ...]:
        """Markup that must stay one token each (what an offline tokenizer has to know)."""
        markup = (self.system, self.sep, self.user_role, self.assistant_role)
        return tuple(
            dict.fromkeys(
                piece
                for text in markup
                for piece in _split_markup(text)
                if piece.startswith("<|") and piece.endswith("|>")
            )
        )


def _split_markup(text: str) -> list[str]:
    pieces, rest = [], text
    while "<|" in rest:
        start = rest.index("<|")
        end = rest.index("|>", start) + 2
        pieces.append(rest[start:end])
        rest = rest[end:]
    return pieces


CHAT_TEMPLATES: dict[str, ChatTemplate] = {
    "phi3": ChatTemplate(
        name="phi3",
        system="<|system|>\nYou are a helpful AI assistant.",
        sep="<|end|>",
        user_role="\n<|user|>\n",
        assistant_role="\n<|assistant|>\n",
    ),
    "llama3": ChatTemplate(
        name="llama3",
        system=(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "A chat between a curious user and an artificial intelligence assistant. "
            "The assistant gives helpful, detailed, and polite answers to the user's questions."
        ),
        sep="<|eot_id|>",
        user_role="<|start_header_id|>user<|end_header_id|>\n\n",
        assistant_role="<|start_header_id|>assistant<|end_header_id|>\n\n",
    ),
}


def get_chat_template(name: str) -> ChatTemplate:
    if name not in CHAT_TEMPLATES:
        raise ValueError(f"chat template {name!r} is not one of {sorted(CHAT_TEMPLATES)}")
    return CHAT_TEMPLATES[name]
