/**
 * What dockerd and ecs-init do to the instance's firewall, replayed with the real iptables in the
 * instance namespace. Docker (20.10 to 27, the versions on ECS-optimized AMIs) on every start:
 * creates its chains if absent, flushes its own chains, removes its FORWARD rules and re-inserts
 * them with the jump to DOCKER-USER first, appends `-j RETURN` to DOCKER-USER if that chain has
 * none, and never flushes DOCKER-USER. ecs-init then routes 169.254.170.2:80 to the agent.
 */

/** The bridge subnets of docker0, per family. */
export const DOCKER_SUBNET_V4 = "172.17.0.0/16";
export const DOCKER_SUBNET_V6 = "fd00:d0c::/64";

function dockerFamilyScript(tool: "iptables" | "ip6tables"): string {
  const subnet = tool === "iptables" ? DOCKER_SUBNET_V4 : DOCKER_SUBNET_V6;
  const loopback = tool === "iptables" ? "127.0.0.0/8" : "::1/128";
  return `
t=${tool}
for chain in DOCKER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER-USER; do
  $t -S "$chain" >/dev/null 2>&1 || $t -N "$chain"
done
for chain in DOCKER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2; do $t -F "$chain"; done
remove_all() { while $t "-C" "$@" 2>/dev/null; do $t "-D" "$@"; done; }
remove_all FORWARD -j DOCKER-USER
remove_all FORWARD -j DOCKER-ISOLATION-STAGE-1
remove_all FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
remove_all FORWARD -o docker0 -j DOCKER
remove_all FORWARD -i docker0 ! -o docker0 -j ACCEPT
remove_all FORWARD -i docker0 -o docker0 -j ACCEPT
$t -I FORWARD 1 -i docker0 -o docker0 -j ACCEPT
$t -I FORWARD 1 -i docker0 ! -o docker0 -j ACCEPT
$t -I FORWARD 1 -o docker0 -j DOCKER
$t -I FORWARD 1 -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
$t -I FORWARD 1 -j DOCKER-ISOLATION-STAGE-1
$t -I FORWARD 1 -j DOCKER-USER
$t -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
$t -A DOCKER-ISOLATION-STAGE-1 -j RETURN
$t -A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
$t -A DOCKER-ISOLATION-STAGE-2 -j RETURN
$t -C DOCKER-USER -j RETURN 2>/dev/null || $t -A DOCKER-USER -j RETURN
$t -t nat -S DOCKER >/dev/null 2>&1 || $t -t nat -N DOCKER
$t -t nat -F DOCKER
$t -t nat -A DOCKER -i docker0 -j RETURN
$t -t nat -C PREROUTING -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null \\
  || $t -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
$t -t nat -C OUTPUT ! -d ${loopback} -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null \\
  || $t -t nat -A OUTPUT ! -d ${loopback} -m addrtype --dst-type LOCAL -j DOCKER
$t -t nat -C POSTROUTING -s ${subnet} ! -o docker0 -j MASQUERADE 2>/dev/null \\
  || $t -t nat -A POSTROUTING -s ${subnet} ! -o docker0 -j MASQUERADE
`;
}

/** Script that (re)starts "dockerd" as far as the firewall is concerned. */
export function dockerStartScript(ipv6: boolean): string {
  return `set -euo pipefail\n${dockerFamilyScript("iptables")}${ipv6 ? dockerFamilyScript("ip6tables") : ""}`;
}

/**
 * ecs-init's task-credentials plumbing: 169.254.170.2:80 goes to the agent on 127.0.0.1:51679,
 * which needs route_localnet, and off-host traffic to 127.0.0.0/8 is dropped unless it was DNAT'd.
 */
export const ECS_INIT_SCRIPT = `set -euo pipefail
sysctl -qw net.ipv4.conf.all.route_localnet=1
iptables -t nat -C PREROUTING -d 169.254.170.2/32 -p tcp --dport 80 -j DNAT --to-destination 127.0.0.1:51679 2>/dev/null \\
  || iptables -t nat -A PREROUTING -d 169.254.170.2/32 -p tcp --dport 80 -j DNAT --to-destination 127.0.0.1:51679
iptables -t nat -C OUTPUT -d 169.254.170.2/32 -p tcp --dport 80 -j REDIRECT --to-ports 51679 2>/dev/null \\
  || iptables -t nat -A OUTPUT -d 169.254.170.2/32 -p tcp --dport 80 -j REDIRECT --to-ports 51679
iptables -C INPUT -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP 2>/dev/null \\
  || iptables -I INPUT -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
`;

/** A reboot as the kernel sees it: every table empty, every policy ACCEPT. */
export function freshKernelFirewallScript(ipv6: boolean): string {
  const tools = ipv6 ? ["iptables", "ip6tables"] : ["iptables"];
  return `set -euo pipefail\n${tools
    .map((t) => `for table in filter nat mangle; do ${t} -t $table -F; ${t} -t $table -X; done
for chain in INPUT FORWARD OUTPUT; do ${t} -P $chain ACCEPT; done`)
    .join("\n")}\n`;
}
