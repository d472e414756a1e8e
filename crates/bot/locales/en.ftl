## vpnkeeper bot texts, English. Every key here must exist in ru.ftl too (a unit test checks).

device-phone = 📱 phone
device-laptop = 💻 laptop
device-router = 🌐 router
proto-awg = AmneziaWG
proto-wireguard = WireGuard
proto-vless = VLESS (Reality)

btn-phone = 📱 Phone
btn-laptop = 💻 Laptop
btn-router = 🌐 Router
btn-my-devices = 📋 My devices
btn-help = ❓ Help
btn-language = 🌍 Русский / English
btn-admin = 🛠 Admin
btn-back = « Back
btn-menu = « Menu
btn-download = ⬇️ Download again
btn-revoke = 🗑 Revoke
btn-yes-revoke = ✅ Yes, revoke
btn-cancel = ❌ Cancel
btn-stats = 📊 Stats
btn-users = 👥 Users
btn-pending = ⏳ Requests ({ $count })
btn-nodes = 🖥 Nodes
btn-broadcast = 📣 Broadcast
btn-disable = 🚫 Disable
btn-enable = ✅ Enable
btn-revoke-all = 🗑 Revoke all devices
btn-approve = ✅ Approve
btn-deny = ❌ Deny
btn-reboot = 🔄 Reboot
btn-yes-reboot = ✅ Yes, reboot
btn-send = ✅ Send
btn-prev = ◀️
btn-next = ▶️

main = 👋 Hello, { $name }!
    Choose a device to get a VPN config.
main-devices = { $count ->
    [0] You have no devices yet.
    [one] You have one device.
   *[other] You have { $count } devices.
}
help =
    ❓ <b>How it works</b>

    1. Press the button of your device: 📱 phone, 💻 laptop or 🌐 router.
    2. You get a config file and its QR code.
    3. Install <b>AmneziaVPN</b> (or WireGuard for plain WireGuard configs) and import the file, or scan the QR code.

    Asking again for the same device gives the same config. 📋 My devices lists your configs: download one again or revoke it.

    Commands: /start — menu, /help — this help, /lang — language.
protocol-choose = Which protocol for the { $device }?
issued = ✅ Your config for the { $device } is below. Import the file or scan the QR code in the app.
issued-link = ✅ Your link for the { $device } is below. Import it into v2rayNG, Hiddify, Streisand or another VLESS client.
issue-failed = ⚠️ Could not issue the config: { $reason }
config-caption = { $device } · { $protocol }. Import this file into AmneziaVPN (or WireGuard).
qr-caption = QR code of the { $device } config.
vless-link = 🔗 { $device } · VLESS:
subscription-title = 🔄 Subscription for client apps (v2rayNG, Hiddify, Streisand, Clash, sing-box): add this URL and they stay up to date.
devices-title = { $count ->
    [0] 📋 You have no devices yet. Choose a device type in the menu.
    [one] 📋 Your device:
   *[other] 📋 Your { $count } devices:
}
device-card =
    { $device } · { $protocol }
    Created: { $created }
    Address: { $address }
revoke-confirm = Revoke the { $device } config? It stops working at once.
revoked = 🗑 The { $device } config is revoked.
lang-set = 🌍 Language: English.
not-found = This device is gone. /start opens a fresh menu.

admin-title = 🛠 <b>Admin panel</b>
stats =
    📊 <b>Statistics</b>

    👥 Users: { $users }
    ✅ active { $active } · ⏸ on hold { $on_hold } · 📉 limited { $limited } · ⌛ expired { $expired } · 🚫 disabled { $disabled }
    🆕 New: { $new24 } in 24 h, { $new7 } in 7 days
    🟢 Active in the last 24 h: { $active24 }

    📶 Traffic today: { $today } · this month: { $month }
    💰 Revenue this month: { $revenue } ⭐
stats-node = { $status } <b>{ $name }</b>: { $devices } devices · today { $today } · month { $month }
stats-no-nodes = No nodes yet.
stats-more-nodes = …and { $count } more nodes.
users-title = 👥 <b>Users</b> ({ $total }), page { $page } of { $pages }:
users-empty = 👥 No users yet.
user-card =
    👤 <b>{ $name }</b> (#{ $id })
    Telegram id: { $tg }
    Status: { $status }
    { $devices ->
        [0] No devices.
        [one] One device.
       *[other] { $devices } devices.
    }
user-enabled = ✅ enabled
user-disabled = 🚫 disabled
user-revoke-confirm = Revoke all { $count } devices of { $name }?
user-done = Done.
pending-title = ⏳ <b>Access requests</b> ({ $count }):
pending-empty = ⏳ No access requests.
access-request-admin = 🙋 { $who } (id { $id }) asks for access.
access-approved-admin = ✅ { $who } (id { $id }) was given access.
access-denied-admin = ❌ { $who } (id { $id }) was denied.
access-decided-already = This request was decided already.
access-requested = ⏳ Your request was sent to the admins. You will get a message when they decide.
access-pending = ⏳ Your request is still waiting for an admin.
access-approved = ✅ You have access now. Press /start.
access-denied = ⛔ Your access request was denied.
refused =
    ⛔ Access denied: this bot is private.
    Your Telegram id: { $id }
disabled = ⛔ Your access is disabled. Contact the administrator.
nodes-title = 🖥 <b>Nodes</b> ({ $count }):
node-leader = leader
node-card =
    🖥 <b>{ $name }</b> (node { $id })
    Host: { $host }
    Status: { $status }
    Active devices: { $devices }
node-online = 🟢 online
node-offline = 🔴 unreachable
node-absent = ⚪ not in the cluster
reboot-confirm = Reboot node { $name }? Connections through it drop until it is back.
reboot-requested = 🔄 Reboot of { $name } requested.
reboot-done = ✅ Node { $name } is rebooting.
reboot-failed = ⚠️ Could not reboot { $name }: { $reason }
cancelled = Cancelled.
broadcast-ask = 📣 Send me the message for all users. /cancel aborts.
broadcast-preview = { $count ->
    [one] 📣 This goes to one user:
   *[other] 📣 This goes to { $count } users:
}
broadcast-started = 📣 Broadcast started. You get a message when it is done.
broadcast-running = ⏳ A broadcast is still being sent; wait until it finishes.
broadcast-done = 📣 Broadcast finished: { $sent } delivered, { $failed } failed.
broadcast-too-long = The message is too long: at most { $max } characters.
unknown-command = 🤔 I don't know this command. Try /start or /help.
use-buttons = Please use the menu buttons. /start opens the menu.
files-not-supported = 📎 I can't take files, photos or voice messages. /start opens the menu.
outdated = This button is outdated. /start opens a fresh menu.
admins-only = ⛔ Admins only.
no-nodes = No server can issue configs yet. Please contact the administrator.
error-generic = ⚠️ Something went wrong: { $reason }
err-disabled = your access is disabled
err-pool = the server has no free addresses; the administrator has been told
err-busy = the service is busy; try again in a minute

btn-support = ✉️ Support
support = Write your question here as a message: it goes to the admins, and their answer comes back in this chat. Keep writing to add to the same ticket.
ticket-received = ✉️ Your message is in ticket #{ $id }. An admin will answer here.
ticket-failed = Your message could not be delivered to support. Please try again later.
ticket-too-long = That message is empty or too long for support (at most 3500 characters).
ticket-admin = ✉️ Ticket #{ $id } from { $who } (id { $tg }):
btn-ticket-reply = ↩️ Reply
btn-ticket-close = ✅ Close
ticket-reply-ask = Type your answer to ticket #{ $id }. /cancel to stop.
ticket-replied = Answer sent.
ticket-closed-admin = Ticket #{ $id } closed.
ticket-answer = 💬 Support: { $text }
ticket-closed = ✅ Your support ticket #{ $id } was closed. Write here any time to open a new one.
ticket-devices = Devices (node, protocol, last handshake):
ticket-no-devices = No active devices.
ticket-device = • { $name }: { $node }, { $protocol }, { $seen }
ticket-never = never connected
invite-link =
    🔗 Join link for a new node: works once, for { $ttl }.
    <code>{ $link }</code>
    On the new server: <code>vpnkeeper join --data-dir /var/lib/vpnkeeper --link 'LINK'</code>, then <code>vpnkeeper run</code>.
invite-bad-ttl = ⚠️ { $reason }. Use /invite [ttl] with a ttl like { $forms }; without one the link works for 15m.
invite-failed = ⚠️ Could not create an invite: { $reason }
## Plans (issue #15)
btn-plans = 📦 Plans
btn-user-plan = 📦 Plan: assign or extend
btn-plan-archive = 🗄 Archive
btn-plan-choice = { $name } · { $days ->
        [one] 1 day
       *[other] { $days } days
    }
plans-title = 📦 <b>Plans</b> ({ $count } active):
plans-empty = 📦 No active plans. Create one with ➕ New plan (Admin → Plans), <code>vpnkeeper plan add</code> or the API.
plan-card =
    📦 <b>{ $name }</b> (#{ $id })
    Duration: { $days ->
        [one] 1 day
       *[other] { $days } days
    }
    Traffic: { $quota }
    Devices: { $devices }
    Reset: { $reset }
    Price: { $stars } ⭐
plan-unlimited = unlimited
plan-archived = 🗄 Archived: no longer offered.
user-plans-title = Put <b>{ $name }</b> on which plan? The same plan again extends it.
plan-unavailable = Sorry, that plan is no longer available. Here are the current ones.
err-device-limit = you have reached your plan's limit of { $limit } devices. Revoke an old one under “My devices” to issue a new one.
## Creating and editing plans in the bot (issue #15)
btn-plan-new = ➕ New plan
btn-plan-edit = ✏️ Edit
btn-plan-save = ✅ Save
btn-unlimited = ♾ Unlimited
btn-days = { $days ->
        [one] 1 day
       *[other] { $days } days
    }
btn-edit-name = ✏️ Name
btn-edit-days = ✏️ Duration
btn-edit-quota = ✏️ Traffic
btn-edit-reset = ✏️ Reset
btn-edit-reset-day = ✏️ Reset day
btn-edit-devices = ✏️ Devices
plan-new-title = 📦 <b>New plan</b>
plan-edit-title = ✏️ <b>Editing plan #{ $id }</b>
plan-draft =
    Name: { $name }
    Duration: { $days }
    Traffic: { $quota }
    Reset: { $reset }
    Devices: { $devices }
plan-ask-name = Type the plan's name (1–64 characters). /cancel stops.
plan-ask-days = How long does it last? Choose, or type a number of days from 1 to 36500.
plan-ask-quota = Traffic per period? Choose, or type a size like 500M, 50G or 1T (0 = unlimited).
plan-ask-reset = When does the traffic used go back to zero?
plan-ask-reset-day = On which day of the month? (31 means the last day in shorter months.)
plan-ask-devices = How many devices may a user have? Choose, or type 0–10000 (0 = unlimited).
plan-confirm = Check the plan: change any field, or save it. Users already on it keep their terms until they renew.
plan-saved = ✅ Plan saved.
plan-bad-name = ⚠️ Name: 1–64 characters, not just digits, no control characters. Nothing changed; type another.
plan-name-taken = ⚠️ A plan with this name exists already. Nothing changed; type another name.
plan-bad-days = ⚠️ Duration: a whole number of days from 1 to 36500. Nothing changed.
plan-bad-quota = ⚠️ Traffic: a size like 500M, 50G or 1T, or 0 for unlimited (at most 1 EiB). Nothing changed.
plan-bad-reset-day = ⚠️ Reset day: a day of the month from 1 to 31. Nothing changed.
plan-bad-devices = ⚠️ Devices: a whole number from 0 (unlimited) to 10000. Nothing changed.
plan-use-buttons = ⚠️ Please choose with the buttons.
reset-no-reset = never
reset-day = daily
reset-week = weekly, on Monday
reset-month = monthly, on the 1st
reset-year = yearly, on January 1st
reset-month-rolling = monthly, on the day the plan started
reset-day-of-month = monthly, on a day of my choice
reset-on-day = monthly, on day { $day }
## Reminders (issue #15, remind)
btn-renew = 🔄 Renew
reminder-expires-3d = ⏳ Your VPN access ends in 3 days, on { $date }. Renew it to stay connected.
reminder-expires-1d = ⏳ Your VPN access ends tomorrow, on { $date }. Renew it to stay connected.
reminder-expired = ⛔ Your VPN access ended on { $date }. Renew it to connect again.
reminder-quota-80 = 📶 You have used 80% of this period's traffic ({ $quota }).
reminder-quota-100 = 📶 You have used all of this period's traffic ({ $quota }). The VPN is paused until the next reset or a renewal.
# Voice notes to support (issue #17)
voice-pending = 🎤 Voice note ({ $seconds } s), transcribing…
voice-caption = 🎤 Ticket #{ $id }
voice-transcript-head = 🎤 Ticket #{ $id } (id { $tg }): transcript of the voice note ({ $seconds } s)
voice-transcript = «{ $text }»
voice-not-transcribed = Could not transcribe it: { $reason }. Listen to the voice note above.
voice-fail-too-long = too long ({ $seconds } s, the limit is { $limit } s)
voice-fail-silent = it is silent
voice-fail-no-speech = no speech recognised
voice-fail-off = transcription is off ({ $detail })
voice-fail-bad-audio = the file is not a readable voice note ({ $detail })
voice-fail-download = the file could not be downloaded ({ $detail })
voice-fail-model = the speech model failed ({ $detail })
backup-caption = 🗄 Scheduled backup of cluster { $cluster }, { $time }
    { $size } · users { $users } · devices { $devices } · nodes { $nodes }
    Sealed with the cluster key: vpnkeeper restore --from FILE --cluster-key cluster.key
backup-failed = ⚠️ Scheduled backup FAILED: { $reason }
# node operations (issue #14)
btn-speedtest = 📶 Speed test
reboot-confirm-expired = This confirmation has expired or was already used; nothing was done. Press Reboot again.
reboot-confirm-invalid = This confirmation is not valid; nothing was done. Press Reboot on the node's card.
reboot-back = ✅ Node { $name } is back online.
reboot-not-back = ⚠️ Node { $name } has not come back within 15 minutes; check its console.
speedtest-started = Speed test started: about 15 seconds.
speedtest-result = 📶 Speed test of { $name }:
speedtest-line = 📶 ↓ { $down } Mbit/s · ↑ { $up } Mbit/s · RTT { $rtt } ms
speedtest-http = 🌐 { $url }: { $mbps } Mbit/s
speedtest-http-failed = 🌐 HTTP test failed: { $reason }
speedtest-running = ⏳ A test of { $name } is running; try again when it ends.
speedtest-failed = ⚠️ Speed test of { $name } failed: { $reason }
# ---- node telemetry (issue #14) ----
node-now =
    CPU: { $cpu } % · load { $load }
    RAM: { $ram_used } of { $ram_total }
    Disk: { $disk_used } of { $disk_total }
    Network: ↓ { $rx } ↑ { $tx } Mbit/s
    Uptime: { $uptime } · vpnkeeper uses { $rss }
node-plane-peers = Peers { $plane }: { $active } active of { $configured }
node-seen-at = Last seen: { $time } UTC ({ $ago } ago)
node-never-seen = Last seen: never
chart-caption = 📈 <b>{ $name }</b>: CPU and network, { $range }
chart-offline = 🔴 <b>{ $name }</b> does not answer, so there is no chart. { $seen }
chart-range-1h = 1h
chart-range-6h = 6h
chart-range-24h = 24h
chart-time-axis = Time (UTC)
chart-cpu = CPU
chart-cpu-axis = CPU, %
chart-net = Network
chart-net-axis = Network, Mbit/s
chart-net-rx = received
chart-net-tx = sent
chart-ram = Memory
chart-ram-axis = Memory, GiB
chart-no-data = no data yet
unit-days = { $n } d
unit-hours = { $n } h
unit-minutes = { $n } min
# node draining (issue #14 item 6)
btn-drain = 🚧 Drain (no new devices)
btn-undrain = ✅ Take new devices again
node-draining = 🚧 Draining: no new devices are placed here; its devices stay.

## Payments in Telegram Stars (issue #16)
btn-buy = ⭐ Buy or renew
btn-buy-plan = 📦 { $name } · { $days } d · { $price } ⭐
buy-title = ⭐ <b>Plans</b>: choose one to pay with Telegram Stars.
buy-empty = No plans are on sale right now.
invoice-description = { $days } days of VPN access.
invoice-discount = Promo discount { $percent }% included.
precheckout-unknown = This invoice is unknown or outdated. Open Buy again.
precheckout-paid = This invoice is already paid.
precheckout-archived = This plan is no longer sold. Open Buy again.
precheckout-amount = The amount differs from the offer. Open Buy again.
payment-done = ✅ Payment of { $stars } ⭐ received: { $plan }, +{ $days } days. Access until { $until }.
refund-done = ↩️ { $stars } ⭐ refunded for { $plan }; { $days } days taken back. Access until { $until }.
payment-unrecognized = ⚠️ This payment does not match an invoice of ours. Write to support.
btn-payments = 💳 Payments
payments-title = 💳 <b>Payments</b> (newest first)
payments-empty = No payments yet.
payment-line = #{ $id } · { $stars } ⭐ · user { $user } · { $status } · { $date }
payment-paid = paid
payment-refund-pending = refund pending
payment-refunded = refunded
payment-refund-failed = refund failed
btn-refund = ↩️ Refund #{ $id }
payment-gone = This payment does not exist.
payment-refund-error = Last refund refused: { $reason }
refund-confirm = Refund { $stars } ⭐ and take back { $days } days?
btn-yes-refund = ✅ Yes, refund
refund-requested = ⏳ Refund of #{ $id } requested; Telegram's answer shows in the list.
stats-revenue = 💰 Revenue: today { $today } ⭐ · 7 d { $week } ⭐ · 30 d { $month } ⭐

## Balances, promo codes, trials, referrals (issue #16)
btn-account = 💰 Balance & invites
btn-promo = 🎟 Promo code
btn-trial = 🎁 Free trial
account = 💰 Your balance: { $stars } ⭐
    🎟 Have a promo code? Send <code>/promo CODE</code>.

    👥 Invite friends with your link:
    { $link }
    Invited: { $referred }, rewarded: { $rewarded }.
promo-how-to = 🎟 Send your promo code as <code>/promo CODE</code>.
promo-bad-code = ⚠️ That is not a promo code: codes are 3–32 latin letters, digits, - or _.
promo-days = ✅ Promo code applied: { $days } extra days.
promo-traffic = ✅ Promo code applied: { $size } extra traffic.
promo-discount = ✅ Promo code applied: { $percent }% off your next purchase.
promo-list-title = 🎟 Promo codes (uses / max):
promo-list-empty = No promo codes yet.
trial-started = 🎁 Your free trial has started: { $days } days.
trial-used = The free trial has already been used by this Telegram account.
referral-own = 👥 That is your own invite link: share it with friends instead.
referral-not-new = 👥 Invite links count only for new users.
balance-changed = ✅ Balance of user { $user }: { $stars } ⭐
admin-usage = ⚠️ Usage: <code>{ $usage }</code>
