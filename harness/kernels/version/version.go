// Package version orders version strings: upstream kernel versions
// ("5.10.223" < "6.1.192" < "6.12.95" < "7.3-rc7" < "7.3") and Debian
// package versions, both by dpkg's rules. The kernel matrix, the archive
// look-ups and the reports that list kernels in version order all use it.
//
// Environment: none.
package version

import (
	"strconv"
	"strings"
)

// Compare orders upstream kernel versions the way dpkg orders
// versions, except that a "-rcN" suffix sorts before the release
// ("7.3-rc7" < "7.3"). It returns -1, 0 or +1.
func Compare(a, b string) int {
	norm := func(s string) string { return strings.ReplaceAll(s, "-rc", "~rc") }
	return verrevcmp(norm(a), norm(b))
}

// verrevcmp is dpkg's version-part comparison.
func verrevcmp(a, b string) int {
	order := func(c byte) int {
		switch {
		case c >= '0' && c <= '9':
			return 0
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
			return int(c)
		case c == '~':
			return -1
		case c != 0:
			return int(c) + 256
		}
		return 0
	}
	at := func(s string, i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		firstDiff := 0
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := order(at(a, i)), order(at(b, j))
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for at(a, i) == '0' {
			i++
		}
		for at(b, j) == '0' {
			j++
		}
		for isDigit(at(a, i)) && isDigit(at(b, j)) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if isDigit(at(a, i)) {
			return 1
		}
		if isDigit(at(b, j)) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// Debian orders Debian package versions (epoch:upstream-revision) by
// dpkg's rules: "6.12.115-2~deb12u1" < "6.12.117-1~deb12u1".
func Debian(a, b string) int {
	split := func(v string) (int, string, string) {
		epoch := 0
		if i := strings.IndexByte(v, ':'); i >= 0 {
			epoch, _ = strconv.Atoi(v[:i])
			v = v[i+1:]
		}
		rev := ""
		if i := strings.LastIndexByte(v, '-'); i >= 0 {
			v, rev = v[:i], v[i+1:]
		}
		return epoch, v, rev
	}
	ea, ua, ra := split(a)
	eb, ub, rb := split(b)
	if ea != eb {
		return sign(ea - eb)
	}
	if c := verrevcmp(ua, ub); c != 0 {
		return c
	}
	return verrevcmp(ra, rb)
}
