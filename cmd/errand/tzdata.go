package main

// Monitors read their schedules in IANA time zones; the zone database is
// embedded so that a server on a system without one (a scratch container)
// still knows them.
import _ "time/tzdata"
