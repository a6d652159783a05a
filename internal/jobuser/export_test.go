package jobuser

// Crash drops l's lock as the death of its agent would: without
// Release, so without killing the user's processes or marking it clean.
func Crash(l *Lease) {
	l.f.Close()
	l.f = nil
}
