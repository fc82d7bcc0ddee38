# ruff: noqa: RUF001  (full-width punctuation is what Chinese text uses)
"""The tutor's and the step prompt's strings in English (the msgids) and zh-TW.

Same shape as a gettext catalogue: the English text is the key, ``{named}`` arguments are filled
in after translation, a missing entry shows the English text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ZH_TW: Mapping[str, str] = {
    # tutor: intro and keys
    "TUTOR {lab} on host {host} (provider {provider}): {done}/{total} done": (
        "導師模式 {lab}，主機 {host}（provider {provider}）：已完成 {done}/{total}"
    ),
    "Your kubectl reaches the lab once this line ran in your terminal:": (
        "在你的終端機執行下面這一行後，你的 kubectl 就能連到實驗環境："
    ),
    "Your kubectl reaches the lab as it is (it runs with --context).": (
        "你的 kubectl 已經可以連到實驗環境（指令都帶有 --context）。"
    ),
    "Or open a shell with everything set, where the tutor sees what you run:": (
        "或開啟一個已設定好的 shell，導師可以看到你在其中執行的指令："
    ),
    "Keys: h hint, s solve it for me, q quit (resume later), Enter check now": (
        "按鍵：h 提示，s 幫我完成，q 離開（稍後可繼續），Enter 立即檢查"
    ),
    "PHASE {phase}": "階段 {phase}",
    # tutor: exercises
    "The tutor does this step itself.": "這一步由導師自動完成。",
    "It keeps running: start it in a second terminal (`{shell}`) and leave it.": (
        "它會持續執行：請在第二個終端機（`{shell}`）啟動它，並讓它保持執行。"
    ),
    "Checked: you run it in `{shell}` (or press Enter when done).": (
        "檢查方式：在 `{shell}` 中執行它（或完成後按 Enter）。"
    ),
    "Press Enter when it is done.": "完成後請按 Enter。",
    "Checked: {what}": "檢查方式：{what}",
    "Passed ({done}/{total} done).": "通過（已完成 {done}/{total}）。",
    "Done by the tutor ({done}/{total} done).": "由導師完成（已完成 {done}/{total}）。",
    "Done ({done}/{total} done).": "完成（已完成 {done}/{total}）。",
    "Not yet: {detail}": "還沒有：{detail}",
    "Not seen yet: run it in `{shell}`, or press s and the tutor runs it.": (
        "還沒看到：請在 `{shell}` 中執行，或按 s 由導師執行。"
    ),
    "Hint: {text}": "提示：{text}",
    "This window is the tutor: type the commands in your own terminal or in `{shell}`.": (
        "這個視窗是導師：請在你自己的終端機或 `{shell}` 中輸入指令。"
    ),
    "No hint for this step: press s and the tutor does it.": "這一步沒有提示：按 s 由導師完成。",
    "Solution: {text}": "解答：{text}",
    "The tutor runs it for you:": "導師為你執行：",
    "That did not work (see above): fix it and run it yourself, s tries again.": (
        "執行失敗（見上方訊息）：修正後自己執行，或按 s 再試一次。"
    ),
    "The tutor starts '{step}' again (it ran it for you before).": (
        "導師重新啟動「{step}」（之前由導師為你執行）。"
    ),
    "Progress saved: {done}/{total} done. `invoke lab.tutor` goes on from here "
    "(--reset starts over).": (
        "進度已儲存：已完成 {done}/{total}。"
        "執行 `invoke lab.tutor` 會從這裡繼續（--reset 從頭開始）。"
    ),
    "All {total} steps done. `invoke lab.verify` checks the whole lab; "
    "`invoke lab.down` removes it.": (
        "全部 {total} 個步驟都完成了。"
        "`invoke lab.verify` 會檢查整個實驗；`invoke lab.down` 會移除它。"
    ),
    "This step cannot be shown yet: {error}": "這一步還無法顯示：{error}",
    # the lab shell
    "Lab shell for {lab} on host {host}: kubectl reaches the lab, and the tutor sees what "
    "you run here. `exit` leaves it.": (
        "{lab} 實驗（主機 {host}）的 shell：kubectl 可以連到實驗環境，"
        "導師看得到你在這裡執行的指令。輸入 `exit` 離開。"
    ),
    # --step
    "Perform step '{step}' (y/n/c)? ": "執行步驟「{step}」嗎 (y/n/c)？ ",
    "Answer y (run it), n (skip it) or c (run it and every step after it without asking).": (
        "請回答 y（執行）、n（略過）或 c（執行這一步以及之後所有步驟，不再詢問）。"
    ),
    "skipped at the --step prompt": "在 --step 詢問時略過",
    "...and {count} more hosts": "……以及另外 {count} 台主機",
}

CATALOGUES: Mapping[str, Mapping[str, str]] = {"zh-TW": ZH_TW}


class Translator:
    """Strings in one language; English where the catalogue has no entry."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.catalogue = CATALOGUES.get(lang, {})

    def gettext(self, msgid: str, /, **args: Any) -> str:
        """``msgid`` translated, ``{named}`` arguments filled in."""
        template = self.catalogue.get(msgid, msgid)
        try:
            return template.format(**args)
        except (KeyError, IndexError, ValueError):  # a translator's typo: the English is right
            return msgid.format(**args)

    def pick(self, texts: Mapping[str, str]) -> str:
        """A playbook's ``{en: ..., zh-TW: ...}`` text in this language (English if missing)."""
        text = texts.get(self.lang) or texts.get("en") or ""
        return text.strip()


def translator(lang: str) -> Translator:
    """The translator of a language (``en``, ``zh-TW``)."""
    return Translator(lang)
