/**
 * What the instance's boot does to the firewall besides dockerd (which runs for real, engine.ts):
 * ecs-init's task-credentials plumbing, and the empty tables of a freshly booted kernel.
 */

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
