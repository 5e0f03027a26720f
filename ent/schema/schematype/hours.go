package schematype

import (
	"fmt"
	"io"
	"strconv"
	"time"
)

// Weekday is a day of the week, as GraphQL spells it (MONDAY … SUNDAY).
type Weekday string

// The days of Weekday.
const (
	Monday    Weekday = "MONDAY"
	Tuesday   Weekday = "TUESDAY"
	Wednesday Weekday = "WEDNESDAY"
	Thursday  Weekday = "THURSDAY"
	Friday    Weekday = "FRIDAY"
	Saturday  Weekday = "SATURDAY"
	Sunday    Weekday = "SUNDAY"
)

// weekdays are the Weekdays in time.Weekday's order (Sunday first).
var weekdays = [...]Weekday{Sunday, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday}

// WeekdayOf is the Weekday of d.
func WeekdayOf(d time.Weekday) Weekday { return weekdays[d] }

// IsValid reports whether w is one of the seven days.
func (w Weekday) IsValid() bool {
	for _, d := range weekdays {
		if w == d {
			return true
		}
	}
	return false
}

// String returns the day's name.
func (w Weekday) String() string { return string(w) }

// UnmarshalGQL reads the GraphQL enum value.
func (w *Weekday) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("a Weekday must be a string")
	}
	*w = Weekday(s)
	if !w.IsValid() {
		return fmt.Errorf("%q is not a Weekday: use MONDAY … SUNDAY", s)
	}
	return nil
}

// MarshalGQL writes the GraphQL enum value.
func (w Weekday) MarshalGQL(out io.Writer) { io.WriteString(out, strconv.Quote(string(w))) }

// OpeningHours is one opening interval of one day of the week, in the
// agent's time zone: from Open (inclusive) to Close (exclusive), both
// "HH:MM" on a 24-hour clock; Close may be "24:00" for the end of the day.
// A day may have several intervals (a lunch break); an interval past
// midnight is two intervals, one on each day.
type OpeningHours struct {
	Day   Weekday `json:"day"`
	Open  string  `json:"open"`
	Close string  `json:"close"`
}

// Minutes returns Open and Close as minutes after midnight, or an error
// saying what is wrong with the interval.
func (h OpeningHours) Minutes() (open, close int, err error) {
	if !h.Day.IsValid() {
		return 0, 0, fmt.Errorf("%q is not a day: use MONDAY … SUNDAY", h.Day)
	}
	if open, err = clock(h.Open); err != nil {
		return 0, 0, fmt.Errorf("%s open: %w", h.Day, err)
	}
	if close, err = clock(h.Close); err != nil {
		return 0, 0, fmt.Errorf("%s close: %w", h.Day, err)
	}
	if open >= close {
		return 0, 0, fmt.Errorf("%s %s–%s: open must be before close (split an interval past midnight in two)", h.Day, h.Open, h.Close)
	}
	return open, close, nil
}

// clock parses "HH:MM" (00:00 to 24:00) into minutes after midnight.
func clock(s string) (int, error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("%q is not a time: write HH:MM, e.g. 09:00", s)
	}
	h, errH := strconv.Atoi(s[:2])
	m, errM := strconv.Atoi(s[3:])
	if errH != nil || errM != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q is not a time: write HH:MM between 00:00 and 24:00", s)
	}
	return h*60 + m, nil
}

// IsOpen reports whether t falls in one of hours, read in loc. No hours at
// all means always open.
func IsOpen(hours []OpeningHours, loc *time.Location, t time.Time) bool {
	if len(hours) == 0 {
		return true
	}
	local := t.In(loc)
	day, minute := WeekdayOf(local.Weekday()), local.Hour()*60+local.Minute()
	for _, h := range hours {
		open, close, err := h.Minutes()
		if err == nil && h.Day == day && open <= minute && minute < close {
			return true
		}
	}
	return false
}
