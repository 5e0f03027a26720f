package bot_test

import (
	"github.com/seachat/seachat/internal/bot"
	"github.com/seachat/seachat/internal/channel"
	"github.com/seachat/seachat/internal/conversation"
)

// The channel service is what production wires in.
var (
	_ conversation.Sender = (*channel.Service)(nil)
	_ bot.Actions         = (*channel.Service)(nil)
)
