package text

import "strings"

// stopwords are, per language, words that say nothing about what a text or
// a question is about: function words, the pieces contractions leave, and
// the filler of chat messages ("hi, can you tell me … please"), which would
// otherwise make a polite question look like one about things the
// knowledge base never mentions. They are folded (no accents). The lists
// follow Snowball's stop word lists, cut to the common words.
var stopwords = map[Language]map[string]bool{
	English: set(`a about above after again against all also am an and any are as at be because been before
		being below between both but by can could did do does doing done down during each few for from further
		had has have having he her here hers him his how i if in into is it its itself just me more most my
		myself no nor not now of off on once only or other our ours out over own same she should so some such
		than that the their theirs them then there these they this those through to too under until up very
		was we were what whats when where which while who whom why will with would you your yours yourself
		don doesn didn isn aren wasn weren won wouldn couldn shouldn haven hasn hadn ll re ve s t d m
		hi hello hey please pls plz thanks thank ok okay yes yeah want wanna need know tell like get got let
		may might must shall really much many anyone someone something thing things u ur im
		sell sells selling sold buy offer offers carry long time bring somewhere anything
		whole didnt doesnt dont cant wont isnt arent ive`),
	German: set(`aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes
		auch auf aus bei bin bis bist da damit dann das dass dasselbe dazu dein deine deinem deinen deiner dem
		den denn der des dessen dich die dies diese dieselbe dieselben diesem diesen dieser dieses dir doch dort
		du durch ein eine einem einen einer eines einig einige einigem einigen einiger einiges einmal er es etwas
		euch euer eure eurem euren eurer ich ihm ihn ihnen ihr ihre ihrem ihren ihrer ihres im in indem ins ist
		jede jedem jeden jeder jedes jene jenem jenen jener jenes jetzt kann kannst konnen konnte kein keine
		keinem keinen keiner man manche manchem manchen mancher mein meine meinem meinen meiner mich mir mit
		muss musste nach nicht nichts noch nun nur ob oder ohne sehr sein seine seinem seinen seiner sich sie
		sind so solche soll sollte sondern sonst um und uns unser unsere unserem unseren unter viel vom von vor
		wahrend war waren warst was weg weil weiter welche welchem welchen welcher welches wenn werde werden wie
		wieder will wir wird wirst wo wollen wollte wurde wurden zu zum zur zwar zwischen
		hallo hi bitte danke gerne ja nein mal gibt habt hat haben habe hab ihr euch eure wann wieviel wieviele
		gibts verkauft verkaufen bietet anbieten kaufen fur furs uber beim ans aufs ums lang lange
		geht gehen komm komme kommen krieg kriege kriegen bekomm bekomme bekommen mach mache machen macht
		brauch brauche brauchen braucht zeigt zeigen genau eigentlich moglich seid`),
	Spanish: set(`a al algo algunas algunos ante antes como con contra cual cuales cuando de del desde donde
		durante e el ella ellas ellos en entre era erais eran eras eres es esa esas ese eso esos esta estaba
		estado estais estamos estan estar estas este esto estos estoy fue fueron fui ha habeis haber habia
		han has hasta hay he la las le les lo los mas me mi mis mucho muchos muy nada ni no nos nosotros o
		os otra otras otro otros para pero poco por porque puedo puede pueden que quien quienes se sea ser si
		sido sin sobre sois somos son soy su sus tambien tanto te tendra tenemos tener tengo ti tiene tienen
		todo todos tu tus un una uno unos usted ustedes vosotros y ya yo
		hola gracias favor vale cuanto cuanta cuantos cuantas quiero quisiera necesito saber
		teneis vendeis venden vender vendemos haceis hacen hacer hacemos ofreceis ofrecen podeis puedes poder
		algun alguna alguno`),
	French: set(`a ai aie au aux avec avez avons c ce ceci cela ces cet cette d dans de des du elle elles en es
		est et etaient etais etait ete etes etre eu il ils j je l la le les leur leurs lui m ma mais me meme mes
		moi mon n ne ni nos notre nous on ont ou par pas peut peux plus pour pourquoi qu quand que quel quelle
		quelles quels qui s sa sans se ses si son sont sur t ta te tes toi ton tu un une vos votre vous y
		bonjour salut merci svp oui non combien est-ce veux voudrais puis`),
	Italian: set(`a ad agli ai al alla alle allo anche avete abbiamo c che chi ci come con cosa da dagli dai dal
		dalla dalle de degli dei del della delle dello di dove e ed era erano gli ha hai hanno ho i il in io la
		le lei li lo loro lui ma me mi mia mie miei mio ne negli nei nel nella nelle nello noi non nostro o per
		perche piu quale quali quando quanto quanti quella quelle quello questa queste questo se si sia siamo
		siete sono su sua sue sui sul sulla suo suoi ti tra tu tua tue tuo tuoi tutti tutto un una uno vi voi
		ciao grazie prego favore vorrei voglio posso potete`),
	Portuguese: set(`a ao aos as com como da das de dela dele deles do dos e ela elas ele eles em entre era eram
		esse essa esses essas esta estas este estes eu foi foram ha isso isto ja lhe lhes mais mas me meu minha
		muito na nas nao nem no nos nossa nosso num numa o os ou para pela pelas pelo pelos por qual quando que
		quem se sem ser seu seus sua suas so tambem te tem tenho ter teu tua um uma voce voces vos
		ola oi obrigado obrigada favor quero gostaria preciso quanto quanta quantos quantas`),
}

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}
