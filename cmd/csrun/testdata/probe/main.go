// Command probe runs inside test containers: it executes its arguments as
// a list of small checks and prints one "name=value" line for each.
//
//	exit:N          exit with status N
//	hostname        hostname
//	ns              inode of each /proc/self/ns/* link
//	pids            the numeric entries of /proc, space separated
//	mkdir:PATH      mkdir PATH; prints the errno (0 on success)
//	id              uid, gid and supplementary groups
//	status:FIELD    a field of /proc/self/status (e.g. CapEff, NoNewPrivs, Seccomp)
//	cwd             working directory
//	env:NAME        an environment variable
//	sleep:SECONDS   sleep
//	write:PATH      create PATH for writing; prints write.PATH=errno
//	read:PATH       the content of PATH, trimmed (read.PATH=...), or err.PATH=errno
//	hook:NAME:FILE  as an OCI hook: append "NAME STATUS ID PID-SET" (the state
//	                read on stdin) to FILE
//	cgroup          the cgroup v2 line of /proc/self/cgroup (cgroup=0::/...)
//	mnt:PATH        the options of the mount on PATH in /proc/self/mountinfo:
//	                mnt.PATH=<per-mount options> <superblock options>
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func errno(err error) int {
	var e syscall.Errno
	if errors.As(err, &e) {
		return int(e)
	}
	if err != nil {
		return -1
	}
	return 0
}

func main() {
	for _, a := range os.Args[1:] {
		name, arg, _ := strings.Cut(a, ":")
		switch name {
		case "exit":
			n, _ := strconv.Atoi(arg)
			os.Exit(n)
		case "hostname":
			h, _ := os.Hostname()
			fmt.Printf("hostname=%s\n", h)
		case "ns":
			for _, ns := range []string{"cgroup", "ipc", "mnt", "net", "pid", "user", "uts"} {
				l, _ := os.Readlink("/proc/self/ns/" + ns)
				fmt.Printf("ns.%s=%s\n", ns, l)
			}
		case "pids":
			ents, _ := os.ReadDir("/proc")
			var pids []int
			for _, e := range ents {
				if n, err := strconv.Atoi(e.Name()); err == nil {
					pids = append(pids, n)
				}
			}
			sort.Ints(pids)
			fmt.Printf("pids=%s\n", strings.Trim(fmt.Sprint(pids), "[]"))
		case "mkdir":
			fmt.Printf("mkdir=%d\n", errno(syscall.Mkdir(arg, 0o755)))
		case "write":
			f, err := os.Create(arg)
			if err == nil {
				f.Close()
			}
			fmt.Printf("write.%s=%d\n", arg, errno(err))
		case "read":
			data, err := os.ReadFile(arg)
			if err != nil {
				fmt.Printf("err.%s=%d\n", arg, errno(err))
				break
			}
			fmt.Printf("read.%s=%s\n", arg, strings.TrimSpace(string(data)))
		case "hook":
			hname, file, _ := strings.Cut(arg, ":")
			var st struct {
				ID     string `json:"id"`
				Status string `json:"status"`
				Pid    int    `json:"pid"`
			}
			if err := json.NewDecoder(os.Stdin).Decode(&st); err != nil {
				fmt.Fprintf(os.Stderr, "probe: hook %s: state: %v\n", hname, err)
				os.Exit(101)
			}
			f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				fmt.Fprintf(os.Stderr, "probe: hook %s: %v\n", hname, err)
				os.Exit(102)
			}
			fmt.Fprintf(f, "%s %s %s %v\n", hname, st.Status, st.ID, st.Pid > 0)
			f.Close()
		case "cgroup":
			data, _ := os.ReadFile("/proc/self/cgroup")
			for _, l := range strings.Split(string(data), "\n") {
				if strings.HasPrefix(l, "0::") {
					fmt.Printf("cgroup=%s\n", l)
				}
			}
		case "mnt":
			data, _ := os.ReadFile("/proc/self/mountinfo")
			opts := ""
			for _, l := range strings.Split(string(data), "\n") {
				// id parent major:minor root mountpoint options ... - type source super
				f := strings.Fields(l)
				pre, post, ok := strings.Cut(l, " - ")
				if !ok || len(f) < 6 || f[4] != arg {
					continue
				}
				super := strings.Fields(post)
				opts = strings.Fields(pre)[5] + " " + super[len(super)-1]
			}
			fmt.Printf("mnt.%s=%s\n", arg, opts)
		case "id":
			g, _ := syscall.Getgroups()
			fmt.Printf("id=%d %d %v\n", syscall.Getuid(), syscall.Getgid(), g)
		case "status":
			f, _ := os.Open("/proc/self/status")
			s := bufio.NewScanner(f)
			for s.Scan() {
				if k, v, ok := strings.Cut(s.Text(), ":"); ok && k == arg {
					fmt.Printf("%s=%s\n", k, strings.TrimSpace(v))
				}
			}
			f.Close()
		case "cwd":
			d, _ := os.Getwd()
			fmt.Printf("cwd=%s\n", d)
		case "env":
			fmt.Printf("env.%s=%s\n", arg, os.Getenv(arg))
		case "stdin":
			data, _ := io.ReadAll(os.Stdin)
			fmt.Printf("stdin=%s\n", data)
		case "sleep":
			n, _ := strconv.Atoi(arg)
			time.Sleep(time.Duration(n) * time.Second)
		default:
			fmt.Fprintf(os.Stderr, "probe: unknown check %q\n", a)
			os.Exit(100)
		}
	}
}
