package bot_test

import (
	"github.com/seachat/seachat/internal/bot"
	"github.com/seachat/seachat/internal/channel"
	"github.com/seachat/seachat/internal/conversation"
	"github.com/seachat/seachat/internal/inbox"
)

// The channel service is what production wires in.
var (
	_ conversation.Sender = (*channel.Service)(nil)
	_ bot.Actions         = (*channel.Service)(nil)
)

// The inbox hands events to the engine.
var _ inbox.Processor = (*bot.Engine)(nil)
