package text

import (
	"strings"
	"sync"
)

// concepts are the things customers ask a shop about most, each with the
// words that name it in the languages SeaChat reads. A customer seldom
// uses the knowledge base's word: "how much" where it says "costs",
// "where are you" where it says "Pier Road", "call" where it says "phone".
// Keys reads every word of a concept as the concept, so the two meet. The
// lists are short on purpose: a word that names other things too ("card",
// "number") would make unrelated texts meet.
var concepts = map[string]map[Language]string{
	"price": {
		English:    "price prices priced cost costs costing cheap cheapest cheaper expensive fee fees",
		German:     "preis preise kosten kostet kostete günstig günstigste teuer gebühr gebühren",
		Spanish:    "precio precios cuesta cuestan costar coste vale valen barato barata caro cara tarifa",
		French:     "prix coût coûte coûtent tarif tarifs cher",
		Italian:    "prezzo prezzi costa costano costo tariffa",
		Portuguese: "preço preços custa custam custo tarifa",
	},
	"address": {
		English:    "address located location street road",
		German:     "adresse anschrift straße",
		Spanish:    "dirección direccion ubicación ubicacion calle avenida",
		French:     "adresse rue",
		Italian:    "indirizzo via",
		Portuguese: "endereço rua",
	},
	"phone": {
		English:    "phone telephone call",
		German:     "telefon telefonnummer telefonisch anrufen",
		Spanish:    "teléfono telefono llamar llámenos llamenos",
		French:     "téléphone appeler",
		Italian:    "telefono chiamare",
		Portuguese: "telefone ligar",
	},
	"hours": {
		English:    "hours open opening",
		German:     "öffnungszeiten geöffnet offen",
		Spanish:    "horario horarios abierto abierta abren abrimos abrís abris",
		French:     "horaires ouvert ouverture",
		Italian:    "orari orario aperto apertura",
		Portuguese: "horário horario aberto abertura",
	},
	"shipping": {
		English:    "ship ships shipping shipped deliver delivers delivery deliveries",
		German:     "versand versenden versendet liefern liefert lieferung lieferzeit",
		Spanish:    "envío envio envíos envios enviar enviáis mandar mandáis mandais entrega entregas",
		French:     "livraison livrer expédition",
		Italian:    "spedizione spedire consegna",
		Portuguese: "envio entrega enviar",
	},
	"duration": {
		English:    "takes",
		German:     "dauert dauer",
		Spanish:    "tarda tardan tardáis tardais plazo dura duran",
		French:     "délai",
		Italian:    "tempo",
		Portuguese: "demora prazo",
	},
	"return": {
		English:    "return returns returned returning refund refunds refunded",
		German:     "rückgabe rücksendung retoure zurückgeben zurückschicken erstattet erstatten widerruf widerrufsrecht",
		Spanish:    "devolver devolución devolucion devoluciones devolvéis devolveis reembolso",
		French:     "retour retourner remboursement rembourser",
		Italian:    "reso restituire rimborso",
		Portuguese: "devolução devolucao devolver reembolso",
	},
	"pay": {
		English:    "pay paying payment payments",
		German:     "zahlen bezahlen zahlung zahlungsarten",
		Spanish:    "pagar pago pagos",
		French:     "payer paiement",
		Italian:    "pagare pagamento",
		Portuguese: "pagar pagamento",
	},
	"parking": {
		English:    "park parking",
		German:     "parken parkplatz parkplätze",
		Spanish:    "aparcar aparcamiento parking",
		French:     "parking stationnement",
		Italian:    "parcheggio",
		Portuguese: "estacionamento",
	},
	"staff": {
		English:    "staff people employees",
		German:     "mitarbeiter leute menschen",
		Spanish:    "personas empleados asesores",
		French:     "personnel employés",
		Italian:    "personale dipendenti",
		Portuguese: "funcionários funcionarios",
	},
	"weight": {
		English:    "weight weigh weighs heavy",
		German:     "gewicht wiegt schwer",
		Spanish:    "peso pesa",
		French:     "poids pèse",
		Italian:    "peso pesa",
		Portuguese: "peso pesa",
	},
	"transit": {
		English:    "train bus tram subway metro",
		German:     "bahn straßenbahn tram bus haltestelle",
		Spanish:    "metro autobús autobus parada tranvía",
		French:     "métro tram bus",
		Italian:    "metro tram autobus",
		Portuguese: "metro autocarro ônibus",
	},
}

var (
	conceptOnce  sync.Once
	conceptStems map[Language]map[string]string // stem → concept key
)

func loadConcepts() {
	conceptStems = map[Language]map[string]string{}
	for name, words := range concepts {
		for lang, list := range words {
			if conceptStems[lang] == nil {
				conceptStems[lang] = map[string]string{}
			}
			for _, w := range strings.Fields(list) {
				for _, part := range Words(w) {
					conceptStems[lang][Stem(lang, part)] = "~" + name
				}
			}
		}
	}
}

// Keys returns the terms of s, as Terms does, with every term that names
// one of the concepts customers ask about most (price, address, phone,
// opening hours, shipping, how long, returns, paying, parking, staff,
// weight, public transport) read as that concept ("~price"), so that
// "how much does it cost" and "price" meet. Concept keys start with '~',
// which no word does.
//
// A German compound that starts or ends with a concept's word is read as
// that concept and its other part ("Versandkosten" → "~shipping",
// "~price"; "Lieferzeit" → "~shipping", "zeit").
func Keys(lang Language, s string) []string {
	conceptOnce.Do(loadConcepts)
	terms := Terms(lang, s)
	m := conceptStems[lang]
	var out []string
	for _, t := range terms {
		if c, ok := m[t]; ok {
			out = append(out, c)
			continue
		}
		if lang == German && len(t) >= 8 {
			if head, tail, ok := splitCompound(m, t); ok {
				out = append(out, head, tail)
				continue
			}
		}
		out = append(out, t)
	}
	return out
}

// splitCompound splits a German stem whose first or last part (four
// letters or more) is a concept's word, longest part first.
func splitCompound(m map[string]string, t string) (head, tail string, ok bool) {
	for i := len(t) - 4; i >= 4; i-- {
		if c, found := m[t[:i]]; found {
			rest := strings.TrimPrefix(t[i:], "s") // Fugen-s: "Versandskosten"
			if c2, found := m[rest]; found {
				return c, c2, true
			}
			return c, rest, true
		}
	}
	for i := 4; i <= len(t)-4; i++ {
		if c, found := m[t[i:]]; found {
			return strings.TrimSuffix(t[:i], "s"), c, true
		}
	}
	return "", "", false
}
