"""Small built-in word lists for the language fast path (hand-written, lower case)."""
from __future__ import annotations

# Frequent English words, including the verbs and nouns instruction data is made of.
ENGLISH = frozenset("""
a about above after again against all also although always am an and another any are around as
at be because been before being below between both but by can could did do does doing down
during each either enough even ever every few for from further get gets given gives had has
have having he her here hers him his how however i if in into is it its itself just least less
let like many may me might more most much must my neither never no nor not now of off often on
once one only or other our ours out over own per please same shall she should since so some
such than that the their theirs them then there these they this those though through thus to
too under until up upon us very was we were what when where whether which while who whom whose
why will with within without would yes yet you your yours
able add answer answers article based best better big call called change choose classify come
common complete compose consider convert correct create data day describe description design
determine develop different difference down edit email english example examples explain fact
find first following form format four generate give good great group help high how identify
important include information input instruction item key kind know language large last level
life line list long look made main make makes making mean means name new next number numbers
old order output paragraph part people person place point possible post provide question
questions rate reason related rewrite right role say second sentence sentences set short should
show similar simple small sort state statement steps story suggest summarize summary take task
tell text three time title top true false two type up use used using value way ways well word
words work world write written year years
""".split())

# Function words of other Latin-script languages that are not also English words.
_FOREIGN_TEXT = {
    "fr": "le la les des est une et du dans pour pas que qui sur avec ce cette sont je vous nous il elle "
          "ils au aux mais ou leur été être avoir fait très sa ses mon ma",
    "es": "el los las del es una y por para con se su como más pero está lo al muy también hay yo",
    "de": "der das und ist ein eine nicht mit den dem von sie ich auch auf für sich wir zu werden wird "
          "oder aber noch nach bei sind haben",
    "it": "il gli della di che è sono non delle degli nel alla questo anche",
    "pt": "os do das dos não uma mais foi ser tem",
    "nl": "het een van en niet zijn op dat ook voor",
    "id": "yang dan ini itu dengan untuk tidak ada dari akan",
    "tl": "ang ng mga sa ay hindi ito",
    "sw": "kwa wa ya ni",
}
_EXCLUDED = ENGLISH | {"non", "y", "e", "o", "a", "con", "com", "em", "um", "da"}
FOREIGN_BY_LANG = {lang: frozenset(text.split()) - _EXCLUDED for lang, text in _FOREIGN_TEXT.items()}
FOREIGN = frozenset().union(*FOREIGN_BY_LANG.values())
