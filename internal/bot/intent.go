package bot

import (
	"strings"
	"unicode"

	"github.com/seachat/seachat/internal/text"
)

// Intent is what a customer's message is, before it is treated as a
// question for the knowledge base.
type Intent int

// The intents. Only a message that is nothing but a greeting, thanks or
// goodbye is small talk: "hi, is the shop open on sunday?" is a question.
const (
	IntentQuestion Intent = iota
	IntentHandoff         // asks for a person in plain words
	IntentGreeting
	IntentThanks
	IntentGoodbye
)

// vocabulary lists, per language, the words that make a message small talk
// or a request for a person. Entries are folded (lower case, no accents);
// several words are matched as a phrase.
type vocabulary struct {
	greetings []string
	thanks    []string
	goodbyes  []string
	// people are words for someone to talk to, which a question may also
	// just mention ("someone", "agent").
	people []string
	// humans are words that ask for a person even in a very short message
	// ("human please", "echter Mensch").
	humans []string
	// talk are verbs of talking to or being put through to someone.
	talk []string
	// with are the prepositions that name whom to talk to ("to", "mit"):
	// a request says whom ("talk to a person"), a question about people
	// does not ("do your staff speak English?").
	with []string
	// want are phrases that ask for something ("I need", "ich möchte").
	want []string
	// identity phrases ask what the bot is ("are you a human?"): not a
	// request for one.
	identity []string
}

var vocabularies = map[text.Language]vocabulary{
	text.English: {
		greetings: []string{"hi", "hello", "hey", "heya", "hiya", "howdy", "yo", "good morning", "good afternoon", "good evening", "morning", "greetings"},
		thanks:    []string{"thanks", "thank you", "thank u", "thx", "ty", "tysm", "cheers", "much appreciated", "appreciate it"},
		goodbyes:  []string{"bye", "goodbye", "bye bye", "see you", "see ya", "cya", "good night", "have a nice day", "have a good day", "take care"},
		people:    []string{"person", "someone", "somebody", "agent", "staff", "staff member", "employee", "customer service", "customer support", "support team", "team member", "manager"},
		humans:    []string{"human", "humans", "real person", "live person", "live agent", "real human", "human agent", "human being", "operator", "representative", "rep"},
		talk:      []string{"talk", "speak", "chat", "connect", "transfer", "put me through", "reach", "contact"},
		with:      []string{"to", "with"},
		want:      []string{"i want", "i need", "i would like", "i'd like", "id like", "can i get", "could i get", "can i have", "give me", "get me", "let me"},
		identity:  []string{"are you", "is this", "am i talking", "am i chatting", "r u"},
	},
	text.German: {
		greetings: []string{"hallo", "hi", "hey", "moin", "moin moin", "servus", "gruss gott", "guten tag", "guten morgen", "guten abend", "gruezi", "huhu"},
		thanks:    []string{"danke", "danke schon", "dankeschon", "vielen dank", "besten dank", "herzlichen dank", "danke sehr"},
		goodbyes:  []string{"tschuss", "auf wiedersehen", "bis bald", "bis dann", "ciao", "schonen tag noch", "gute nacht", "bye"},
		people:    []string{"person", "mitarbeiter", "mitarbeiterin", "berater", "beraterin", "kundenservice", "kundendienst", "jemandem", "jemand", "agent", "support"},
		humans:    []string{"mensch", "menschen", "echter mensch", "echten menschen", "echte person", "menschlichen mitarbeiter"},
		talk:      []string{"sprechen", "reden", "chatten", "verbinden", "verbinde", "durchstellen", "weiterleiten", "kontaktieren", "erreichen"},
		with:      []string{"mit", "zu"},
		want:      []string{"ich mochte", "ich will", "ich brauche", "kann ich", "konnte ich", "hatte gern", "hatte gerne"},
		identity:  []string{"bist du", "sind sie", "ist das"},
	},
	text.Spanish: {
		greetings: []string{"hola", "buenas", "buenos dias", "buenas tardes", "buenas noches", "saludos", "que tal"},
		thanks:    []string{"gracias", "muchas gracias", "mil gracias", "te lo agradezco", "se lo agradezco"},
		goodbyes:  []string{"adios", "hasta luego", "hasta pronto", "nos vemos", "chao", "chau", "hasta manana"},
		people:    []string{"persona", "agente", "asesor", "asesora", "alguien", "empleado", "atencion al cliente"},
		humans:    []string{"humano", "humana", "persona real", "agente humano", "operador", "operadora", "representante"},
		talk:      []string{"hablar", "comunicarme", "comunicar", "pasar", "pasame", "paseme", "contactar", "conectar", "conectarme", "atender", "atienda"},
		with:      []string{"con", "a"},
		want:      []string{"quiero", "necesito", "quisiera", "puedo", "podria", "me gustaria"},
		identity:  []string{"eres", "es usted", "estoy hablando con"},
	},
	text.French: {
		greetings: []string{"bonjour", "salut", "bonsoir", "coucou", "allo"},
		thanks:    []string{"merci", "merci beaucoup", "merci bien", "je vous remercie", "mille mercis"},
		goodbyes:  []string{"au revoir", "a bientot", "a plus", "bonne journee", "bonne soiree", "adieu"},
		people:    []string{"personne", "agent", "quelqu'un", "quelqu un", "service client", "employe"},
		humans:    []string{"humain", "humaine", "vraie personne", "personne reelle", "agent humain", "conseiller", "conseillere", "operateur", "operatrice"},
		talk:      []string{"parler", "discuter", "joindre", "contacter", "passer", "mettre en relation"},
		with:      []string{"a", "avec"},
		want:      []string{"je veux", "je voudrais", "j'aimerais", "j aimerais", "je souhaite", "puis-je", "puis je", "besoin"},
		identity:  []string{"es-tu", "es tu", "etes-vous", "etes vous", "tu es", "vous etes"},
	},
	text.Italian: {
		greetings: []string{"ciao", "salve", "buongiorno", "buonasera", "buon pomeriggio"},
		thanks:    []string{"grazie", "grazie mille", "molte grazie", "ti ringrazio", "la ringrazio"},
		goodbyes:  []string{"arrivederci", "a presto", "ciao ciao", "buona giornata", "buona serata"},
		people:    []string{"persona", "agente", "qualcuno", "consulente", "assistenza clienti", "servizio clienti"},
		humans:    []string{"umano", "umana", "persona reale", "persona vera", "operatore", "operatrice"},
		talk:      []string{"parlare", "contattare", "passami", "mi passi", "collegare", "collegarmi"},
		with:      []string{"con", "a", "al"},
		want:      []string{"voglio", "vorrei", "posso", "potrei", "ho bisogno"},
		identity:  []string{"sei", "e un bot", "sto parlando con"},
	},
	text.Portuguese: {
		greetings: []string{"ola", "oi", "bom dia", "boa tarde", "boa noite", "e ai"},
		thanks:    []string{"obrigado", "obrigada", "muito obrigado", "muito obrigada", "valeu", "agradeco"},
		goodbyes:  []string{"tchau", "adeus", "ate logo", "ate mais", "ate breve"},
		people:    []string{"pessoa", "agente", "alguem", "assistente", "funcionario"},
		humans:    []string{"humano", "humana", "pessoa real", "pessoa de verdade", "atendente", "atendente humano", "operador", "representante"},
		talk:      []string{"falar", "conversar", "me passa", "transferir", "contatar"},
		with:      []string{"com", "a", "ao"},
		want:      []string{"quero", "preciso", "gostaria", "posso", "pode"},
		identity:  []string{"voce e", "vc e", "e um robo", "e um bot"},
	},
}

// fillers may stand beside small talk ("thanks a lot", "ok bye",
// "hi there") and beside a request for a person ("a human please").
var fillers = wordSet("ok okay okey k great perfect super cool nice awesome so much a lot very much lots again there all " +
	"please pls plz now asap the a an to with me i just " +
	"bitte sehr vielmals ok alles klar super toll ja einen einem eine mit " +
	"por favor muy muchas vale ok perfecto genial con un una el la " +
	"s'il vous plait svp beaucoup tres parfait super avec un une " +
	"per favore mille perfetto ok con un una " +
	"por favor muito ok perfeito com um uma")

// Classify returns the intent of a customer's message and, for small talk
// and handoff requests, the language it was written in. Where vocabularies
// overlap ("ciao"), the first of text.Languages wins.
func Classify(message string) (Intent, text.Language) {
	folded := fold(message)
	words := strings.Fields(folded)
	if len(words) == 0 || len(words) > 12 {
		return IntentQuestion, text.Unknown
	}
	for _, lang := range text.Languages {
		if handoffRequest(vocabularies[lang], folded, words) {
			return IntentHandoff, lang
		}
	}
	for _, lang := range text.Languages {
		if intent, ok := smallTalk(vocabularies[lang], words); ok {
			return intent, lang
		}
	}
	return IntentQuestion, text.Unknown
}

// smallTalk reports whether words are nothing but greetings, thanks,
// goodbyes and fillers, and which of the three they mostly are: thanks
// outrank goodbyes ("thanks, bye"), which outrank greetings.
func smallTalk(v vocabulary, words []string) (Intent, bool) {
	var greeting, thanks, goodbye bool
	for i := 0; i < len(words); {
		if n := matchAt(v.thanks, words, i); n > 0 {
			thanks, i = true, i+n
		} else if n := matchAt(v.goodbyes, words, i); n > 0 {
			goodbye, i = true, i+n
		} else if n := matchAt(v.greetings, words, i); n > 0 {
			greeting, i = true, i+n
		} else if fillers[words[i]] {
			i++
		} else {
			return IntentQuestion, false
		}
	}
	switch {
	case thanks:
		return IntentThanks, true
	case goodbye:
		return IntentGoodbye, true
	case greeting:
		return IntentGreeting, true
	}
	return IntentQuestion, false
}

// handoffRequest reports whether a message asks for a person: someone to
// talk to ("can I talk to someone"), a human wanted ("I need a human"), or
// a short message that names a human ("human please", "echter Mensch"). A question
// that only mentions people ("how many people work in the shop?", "do your
// staff speak English?") is not a request, nor is asking what the bot is.
func handoffRequest(v vocabulary, folded string, words []string) bool {
	for _, p := range v.identity {
		if strings.HasPrefix(folded, p+" ") {
			return false
		}
	}
	human := containsAny(v.humans, words)
	switch {
	case human && len(words)-countFillers(words) <= 3:
		return true // "human please", "a real person"
	case human && (containsAny(v.want, words) || containsAny(v.talk, words)):
		return true // "I need a human", "is there a real person I can chat with?"
	}
	return containsAny(v.talk, words) && (addressed(v, v.humans, words) || addressed(v, v.people, words))
}

// addressed reports whether words hold a preposition followed, within two
// words, by one of persons: "with a human", "mit einem Mitarbeiter".
func addressed(v vocabulary, persons []string, words []string) bool {
	for i := range words {
		if matchAt(v.with, words, i) == 0 {
			continue
		}
		for j := i + 1; j < len(words) && j <= i+3; j++ {
			if matchAt(persons, words, j) > 0 {
				return true
			}
		}
	}
	return false
}

func countFillers(words []string) int {
	n := 0
	for _, w := range words {
		if fillers[w] {
			n++
		}
	}
	return n
}

func containsAny(phrases []string, words []string) bool {
	for i := range words {
		if matchAt(phrases, words, i) > 0 {
			return true
		}
	}
	return false
}

// matchAt returns how many words of the longest phrase that starts at
// words[i] cover, or 0.
func matchAt(phrases []string, words []string, i int) int {
	best := 0
	for _, p := range phrases {
		pw := strings.Fields(p)
		if len(pw) <= best || i+len(pw) > len(words) {
			continue
		}
		ok := true
		for j, w := range pw {
			if words[i+j] != w {
				ok = false
				break
			}
		}
		if ok {
			best = len(pw)
		}
	}
	return best
}

// fold lowers s, removes accents and keeps letters, digits and the
// apostrophe, so "¡Hola!", "HOLA" and "hola" are the same words.
func fold(s string) string {
	s = text.Fold(strings.NewReplacer("’", "'", "‘", "'").Replace(s))
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\''
	}), " ")
}

func wordSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// smallTalkReplies are the bot's answers to small talk, per language.
var smallTalkReplies = map[text.Language]map[Intent]string{
	text.English: {
		IntentGreeting: "Hi! How can I help you today?",
		IntentThanks:   "You're welcome! Is there anything else I can help you with?",
		IntentGoodbye:  "Goodbye! Write to us here any time.",
	},
	text.German: {
		IntentGreeting: "Hallo! Wie kann ich Ihnen helfen?",
		IntentThanks:   "Gern geschehen! Kann ich sonst noch etwas für Sie tun?",
		IntentGoodbye:  "Auf Wiedersehen! Schreiben Sie uns hier jederzeit.",
	},
	text.Spanish: {
		IntentGreeting: "¡Hola! ¿En qué puedo ayudarte?",
		IntentThanks:   "¡De nada! ¿Hay algo más en lo que pueda ayudarte?",
		IntentGoodbye:  "¡Hasta luego! Escríbenos aquí cuando quieras.",
	},
	text.French: {
		IntentGreeting: "Bonjour ! Comment puis-je vous aider ?",
		IntentThanks:   "Avec plaisir ! Puis-je vous aider pour autre chose ?",
		IntentGoodbye:  "Au revoir ! Écrivez-nous ici quand vous voulez.",
	},
	text.Italian: {
		IntentGreeting: "Ciao! Come posso aiutarti?",
		IntentThanks:   "Prego! Posso aiutarti con qualcos'altro?",
		IntentGoodbye:  "Arrivederci! Scrivici qui quando vuoi.",
	},
	text.Portuguese: {
		IntentGreeting: "Olá! Como posso ajudar?",
		IntentThanks:   "De nada! Posso ajudar com mais alguma coisa?",
		IntentGoodbye:  "Tchau! Escreva para nós aqui quando quiser.",
	},
}

// SmallTalkReply is the bot's short reply to a greeting, thanks or goodbye
// in lang, in English when lang has none.
func SmallTalkReply(intent Intent, lang text.Language) string {
	if r, ok := smallTalkReplies[lang][intent]; ok {
		return r
	}
	return smallTalkReplies[text.English][intent]
}
