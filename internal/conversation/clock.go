package conversation

import "time"

// Now is the service's clock (Deps.Now): the bot reads business hours by
// it, so tests that set the clock set those too.
func (s *Service) Now() time.Time { return s.now() }
