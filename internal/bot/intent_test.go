package bot_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/bot"
)

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		text   string
		intent bot.Intent
		lang   string
	}{
		// Requests for a person, in plain words.
		{"can i talk to a real person?", bot.IntentHandoff, "en"},
		{"Human please", bot.IntentHandoff, "en"},
		{"I want to speak with someone", bot.IntentHandoff, "en"},
		{"i need a human", bot.IntentHandoff, "en"},
		{"live agent", bot.IntentHandoff, "en"},
		{"connect me to customer service pls", bot.IntentHandoff, "en"},
		{"Ich möchte mit einem Menschen sprechen", bot.IntentHandoff, "de"},
		{"kann ich mit einem mitarbeiter reden?", bot.IntentHandoff, "de"},
		{"echter Mensch bitte", bot.IntentHandoff, "de"},
		{"Quiero hablar con una persona", bot.IntentHandoff, "es"},
		{"¿puedo hablar con un humano?", bot.IntentHandoff, "es"},
		{"Je voudrais parler à un conseiller", bot.IntentHandoff, "fr"},
		{"je veux parler à quelqu'un", bot.IntentHandoff, "fr"},
		{"Vorrei parlare con un operatore", bot.IntentHandoff, "it"},
		{"posso parlare con una persona?", bot.IntentHandoff, "it"},
		{"Quero falar com um atendente", bot.IntentHandoff, "pt"},
		{"preciso falar com uma pessoa", bot.IntentHandoff, "pt"},

		// Questions that mention people, staff or humans.
		{"how many people work in the workshop?", bot.IntentQuestion, ""},
		{"do your staff speak english?", bot.IntentQuestion, ""},
		{"are you a human?", bot.IntentQuestion, ""},
		{"is the bike for one person or two?", bot.IntentQuestion, ""},
		{"can i get someone to fix my brakes today?", bot.IntentQuestion, ""},
		{"wie viele Mitarbeiter habt ihr?", bot.IntentQuestion, ""},
		{"sprechen eure Mitarbeiter Englisch?", bot.IntentQuestion, ""},
		{"can your staff speak to me in german?", bot.IntentQuestion, ""},
		{"talk to staff pls", bot.IntentHandoff, "en"},
		{"is there a real person i can chat with??", bot.IntentHandoff, "en"},
		{"¿cuánto cuesta para una persona?", bot.IntentQuestion, ""},
		{"what is the human body made of", bot.IntentQuestion, ""},

		// Small talk, on its own.
		{"Hi!", bot.IntentGreeting, "en"},
		{"hello there", bot.IntentGreeting, "en"},
		{"good morning 👋", bot.IntentGreeting, "en"},
		{"thanks!", bot.IntentThanks, "en"},
		{"thank you so much", bot.IntentThanks, "en"},
		{"ok thanks bye", bot.IntentThanks, "en"},
		{"bye", bot.IntentGoodbye, "en"},
		{"Hallo", bot.IntentGreeting, "de"},
		{"Danke schön!", bot.IntentThanks, "de"},
		{"tschüss", bot.IntentGoodbye, "de"},
		{"¡Hola!", bot.IntentGreeting, "es"},
		{"muchas gracias", bot.IntentThanks, "es"},
		{"merci beaucoup", bot.IntentThanks, "fr"},
		{"Bonjour", bot.IntentGreeting, "fr"},
		{"grazie mille", bot.IntentThanks, "it"},
		{"obrigado", bot.IntentThanks, "pt"},

		// A greeting with a question is a question.
		{"hi, how long is the warranty?", bot.IntentQuestion, ""},
		{"hello is the shop open on sunday", bot.IntentQuestion, ""},
		{"thanks, and do you ship to austria?", bot.IntentQuestion, ""},
		{"", bot.IntentQuestion, ""},
	} {
		t.Run(tt.text, func(t *testing.T) {
			intent, lang := bot.Classify(tt.text)
			require.Equal(t, tt.intent, intent)
			require.Equal(t, tt.lang, string(lang))
		})
	}
}
