package oracle

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel stop tshark if the test process dies
// without stopping it (a test binary killed at its timeout runs no cleanup).
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
