"""The raw material of demo data: words, phrases, names, places, files, phone ranges."""


def _split(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(sep))


WORDS = _split(
    "the you to and is it that for of a in on my me we are have be this at so not do "
    "can just what will your with no yes ok okay all but get was going how if now see "
    "like know one there out up time about when good love today tomorrow tonight day "
    "call home work lunch dinner coffee meeting morning later soon back here send sent "
    "photo picture video voice message please thanks thank great nice sure sorry happy "
    "birthday weekend friday monday week next last year month new price order delivery "
    "address office school class exam doctor appointment train bus car traffic airport "
    "flight hotel trip beach party game match team football music movie book pizza "
    "bread milk market shop money bank card payment invoice report project deadline "
    "document file contract meeting client boss mom dad brother sister kids baby dog "
    "cat rain sun weather cold hot late early ready done check look wait need want "
    "think remember forget bring buy pay help ask tell said told let us them they he "
    "she our their where why who which very really still again also already maybe "
    "never always every some any more much many little big small best better first "
    "street park garden kitchen room house city center station corner left right near "
    "far open closed free busy tired sick fine well hungry dinner reservation table"
)
# Whole phrases people actually type; most sentences start from one of them.
PHRASES = _split(
    "see you tomorrow|running late|call me when you can|on my way|happy birthday|"
    "good morning|good night|thank you so much|no problem|sounds good|let me know|"
    "where are you|what time|are you coming|I will be there|can you send me|just arrived|"
    "the meeting is at|did you see the|dinner tonight|how was your day|talk later|"
    "miss you|almost there|stuck in traffic|the invoice is attached|"
    "please confirm the order|the delivery arrives|pick up the kids|"
    "the flight is delayed|check your email|coffee this afternoon",
    "|",
)
FIRST_NAMES = _split(
    "Ana Bruno Carla Diego Elena Felipe Gabriela Hugo Isabel João Karina Lucas Maria "
    "Nuno Olivia Pedro Quinn Rafael Sofia Tiago Ursula Vitor Wendy Xavier Yara Zoe "
    "Amir Chen Fatima Hiroshi Ivan Jamal Lena Mei Noah Priya Sven Tomasz Ngozi Aisha"
)
LAST_NAMES = _split(
    "Silva Santos Oliveira Souza Costa Pereira Almeida Ferreira Rodrigues Gomes Smith "
    "Johnson Brown Garcia Martinez Müller Schmidt Rossi Bianchi Dubois Novak Kowalski "
    "Tanaka Wang Kim Nguyen Patel Okafor Haddad Cohen Ivanova Larsen Jensen Murphy"
)
PLACES = (
    ("Café Central", "Rua Augusta 120, Lisboa"),
    ("Ibirapuera Park", "Av. Pedro Álvares Cabral, São Paulo"),
    ("Hauptbahnhof", "Europaplatz 1, Berlin"),
    ("Golden Gate Park", "San Francisco, CA"),
    ("Office", "Av. Paulista 1000, São Paulo"),
    ("Home", ""),
    ("Airport Terminal 2", ""),
    ("Mercado Municipal", "Rua da Cantareira 306, São Paulo"),
)
DOC_KINDS = (
    ("application/pdf", "pdf", ("invoice", "report", "contract", "ticket", "menu")),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", ("budget",)),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", ("cv",)),
    ("text/plain", "txt", ("notes",)),
)
# Mobile ranges: country code, national prefixes, then a number in [low, high).
NUMBER_PLANS = (
    ("1", ("415", "212", "312", "617", "206", "303", "512", "404"), 2_000_000, 10_000_000),
    ("55", ("119", "219", "319", "419", "519", "619", "719", "819"), 60_000_000, 100_000_000),
    ("44", ("7400", "7500", "7700", "7800", "7900"), 100_000, 1_000_000),
    ("49", ("151", "152", "157", "159"), 10_000_000, 100_000_000),
    ("351", ("91", "92", "93", "96"), 1_000_000, 10_000_000),
    ("91", ("9",), 100_000_000, 1_000_000_000),
)
