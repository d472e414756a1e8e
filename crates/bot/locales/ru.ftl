## Тексты бота vpnkeeper, русский. Ключи те же, что в en.ftl (проверяет юнит-тест).

device-phone = 📱 телефон
device-laptop = 💻 ноутбук
device-router = 🌐 роутер
proto-awg = AmneziaWG
proto-wireguard = WireGuard
proto-vless = VLESS (Reality)

btn-phone = 📱 Телефон
btn-laptop = 💻 Ноутбук
btn-router = 🌐 Роутер
btn-my-devices = 📋 Мои устройства
btn-help = ❓ Помощь
btn-language = 🌍 Русский / English
btn-admin = 🛠 Админка
btn-back = « Назад
btn-menu = « Меню
btn-download = ⬇️ Скачать снова
btn-revoke = 🗑 Отозвать
btn-yes-revoke = ✅ Да, отозвать
btn-cancel = ❌ Отмена
btn-stats = 📊 Статистика
btn-users = 👥 Пользователи
btn-pending = ⏳ Заявки ({ $count })
btn-nodes = 🖥 Узлы
btn-broadcast = 📣 Рассылка
btn-disable = 🚫 Отключить
btn-enable = ✅ Включить
btn-revoke-all = 🗑 Отозвать все устройства
btn-approve = ✅ Одобрить
btn-deny = ❌ Отклонить
btn-reboot = 🔄 Перезагрузить
btn-yes-reboot = ✅ Да, перезагрузить
btn-send = ✅ Отправить
btn-prev = ◀️
btn-next = ▶️

main = 👋 Привет, { $name }!
    Выберите устройство, чтобы получить конфигурацию VPN.
main-devices = { $count ->
    [0] У вас пока нет устройств.
    [one] У вас { $count } устройство.
    [few] У вас { $count } устройства.
   *[many] У вас { $count } устройств.
}
help =
    ❓ <b>Как это работает</b>

    1. Нажмите кнопку своего устройства: 📱 телефон, 💻 ноутбук или 🌐 роутер.
    2. Вы получите файл конфигурации и QR-код.
    3. Установите <b>AmneziaVPN</b> (или WireGuard для обычных конфигураций WireGuard) и импортируйте файл или отсканируйте QR-код.

    Повторный запрос для того же устройства вернёт ту же конфигурацию. В «📋 Мои устройства» можно скачать конфигурацию снова или отозвать её.

    Команды: /start — меню, /help — помощь, /lang — язык.
protocol-choose = Какой протокол для устройства «{ $device }»?
issued = ✅ Конфигурация для устройства «{ $device }» — ниже. Импортируйте файл или отсканируйте QR-код в приложении.
issued-link = ✅ Ссылка для устройства «{ $device }» — ниже. Импортируйте её в v2rayNG, Hiddify, Streisand или другой клиент VLESS.
issue-failed = ⚠️ Не удалось выдать конфигурацию: { $reason }
config-caption = { $device } · { $protocol }. Импортируйте этот файл в AmneziaVPN (или WireGuard).
qr-caption = QR-код конфигурации: { $device }.
vless-link = 🔗 { $device } · VLESS:
subscription-title = 🔄 Подписка для приложений (v2rayNG, Hiddify, Streisand, Clash, sing-box): добавьте эту ссылку, и они будут обновляться сами.
devices-title = { $count ->
    [0] 📋 У вас пока нет устройств. Выберите тип устройства в меню.
    [one] 📋 У вас { $count } устройство:
    [few] 📋 У вас { $count } устройства:
   *[many] 📋 У вас { $count } устройств:
}
device-card =
    { $device } · { $protocol }
    Создано: { $created }
    Адрес: { $address }
revoke-confirm = Отозвать конфигурацию «{ $device }»? Она сразу перестанет работать.
revoked = 🗑 Конфигурация «{ $device }» отозвана.
lang-set = 🌍 Язык: русский.
not-found = Этого устройства больше нет. /start откроет свежее меню.

admin-title = 🛠 <b>Админка</b>
stats =
    📊 <b>Статистика</b>

    👥 Пользователи: { $users }
    ✅ активны { $active } · ⏸ в ожидании { $on_hold } · 📉 лимит { $limited } · ⌛ истекли { $expired } · 🚫 отключены { $disabled }
    🆕 Новые: { $new24 } за 24 ч, { $new7 } за 7 дней
    🟢 Активны за 24 ч: { $active24 }

    📶 Трафик сегодня: { $today } · за месяц: { $month }
    💰 Выручка за месяц: { $revenue } ⭐
stats-node = { $status } <b>{ $name }</b>: устройств { $devices } · сегодня { $today } · за месяц { $month }
stats-no-nodes = Узлов пока нет.
stats-more-nodes = …и ещё узлов: { $count }.
users-title = 👥 <b>Пользователи</b> ({ $total }), страница { $page } из { $pages }:
users-empty = 👥 Пользователей пока нет.
user-card =
    👤 <b>{ $name }</b> (#{ $id })
    Telegram id: { $tg }
    Статус: { $status }
    { $devices ->
        [0] Устройств нет.
        [one] { $devices } устройство.
        [few] { $devices } устройства.
       *[many] { $devices } устройств.
    }
user-enabled = ✅ включён
user-disabled = 🚫 отключён
user-revoke-confirm = { $count ->
    [one] Отозвать { $count } устройство пользователя { $name }?
    [few] Отозвать { $count } устройства пользователя { $name }?
   *[many] Отозвать { $count } устройств пользователя { $name }?
}
user-done = Готово.
pending-title = ⏳ <b>Заявки на доступ</b> ({ $count }):
pending-empty = ⏳ Заявок нет.
access-request-admin = 🙋 { $who } (id { $id }) просит доступ.
access-approved-admin = ✅ { $who } (id { $id }) получил доступ.
access-denied-admin = ❌ { $who } (id { $id }): в доступе отказано.
access-decided-already = По этой заявке уже принято решение.
access-requested = ⏳ Заявка отправлена администраторам. Вы получите сообщение, когда они решат.
access-pending = ⏳ Ваша заявка ещё ждёт решения администратора.
access-approved = ✅ Доступ открыт. Нажмите /start.
access-denied = ⛔ В доступе отказано.
refused =
    ⛔ Доступ запрещён: это закрытый бот.
    Ваш Telegram id: { $id }
disabled = ⛔ Ваш доступ отключён. Обратитесь к администратору.
nodes-title = 🖥 <b>Узлы</b> ({ $count }):
node-leader = лидер
node-card =
    🖥 <b>{ $name }</b> (узел { $id })
    Адрес: { $host }
    Статус: { $status }
    Активные устройства: { $devices }
node-online = 🟢 в сети
node-offline = 🔴 недоступен
node-absent = ⚪ не в кластере
reboot-confirm = Перезагрузить узел { $name }? Подключения через него прервутся, пока он не вернётся.
reboot-requested = 🔄 Перезагрузка узла { $name } запрошена.
reboot-done = ✅ Узел { $name } перезагружается.
reboot-failed = ⚠️ Не удалось перезагрузить { $name }: { $reason }
cancelled = Отменено.
broadcast-ask = 📣 Пришлите сообщение для всех пользователей. /cancel — отмена.
broadcast-preview = { $count ->
    [one] 📣 Получит { $count } пользователь:
    [few] 📣 Получат { $count } пользователя:
   *[many] 📣 Получат { $count } пользователей:
}
broadcast-started = 📣 Рассылка началась. Когда она закончится, придёт сообщение.
broadcast-running = ⏳ Предыдущая рассылка ещё идёт; дождитесь её окончания.
broadcast-done = 📣 Рассылка завершена: доставлено { $sent }, не доставлено { $failed }.
broadcast-too-long = Сообщение слишком длинное: не больше { $max } символов.
unknown-command = 🤔 Не знаю такой команды. Попробуйте /start или /help.
use-buttons = Пожалуйста, пользуйтесь кнопками меню. /start откроет меню.
files-not-supported = 📎 Я не принимаю файлы, фото и голосовые сообщения. /start откроет меню.
outdated = Эта кнопка устарела. /start откроет свежее меню.
admins-only = ⛔ Только для администраторов.
no-nodes = Пока ни один сервер не выдаёт конфигурации. Обратитесь к администратору.
error-generic = ⚠️ Что-то пошло не так: { $reason }
err-disabled = ваш доступ отключён
err-pool = на сервере закончились свободные адреса; администратор предупреждён
err-busy = сервис занят; попробуйте через минуту

btn-support = ✉️ Поддержка
support = Напишите ваш вопрос сообщением: он уйдёт администраторам, а их ответ придёт в этот чат. Следующие сообщения добавятся в то же обращение.
ticket-received = ✉️ Ваше сообщение в обращении №{ $id }. Администратор ответит здесь.
ticket-failed = Не удалось передать сообщение в поддержку. Попробуйте позже.
ticket-too-long = Сообщение пустое или слишком длинное для поддержки (не больше 3500 символов).
ticket-admin = ✉️ Обращение №{ $id } от { $who } (id { $tg }):
btn-ticket-reply = ↩️ Ответить
btn-ticket-close = ✅ Закрыть
ticket-reply-ask = Напишите ответ на обращение №{ $id }. /cancel — отмена.
ticket-replied = Ответ отправлен.
ticket-closed-admin = Обращение №{ $id } закрыто.
ticket-answer = 💬 Поддержка: { $text }
ticket-closed = ✅ Ваше обращение №{ $id } закрыто. Напишите сюда в любой момент, чтобы открыть новое.
ticket-devices = Устройства (узел, протокол, последнее рукопожатие):
ticket-no-devices = Нет активных устройств.
ticket-device = • { $name }: { $node }, { $protocol }, { $seen }
ticket-never = ни разу не подключалось
invite-link =
    🔗 Ссылка для подключения нового узла: одноразовая, действует { $ttl }.
    <code>{ $link }</code>
    На новом сервере: <code>vpnkeeper join --data-dir /var/lib/vpnkeeper --link 'ССЫЛКА'</code>, затем <code>vpnkeeper run</code>.
invite-bad-ttl = ⚠️ { $reason }. Используйте /invite [срок] со сроком вида { $forms }; без срока ссылка действует 15m.
invite-failed = ⚠️ Не удалось создать приглашение: { $reason }
## Тарифы (issue #15)
btn-plans = 📦 Тарифы
btn-user-plan = 📦 Тариф: назначить или продлить
btn-plan-archive = 🗄 В архив
btn-plan-choice = { $name } · { $days ->
        [one] { $days } день
        [few] { $days } дня
       *[other] { $days } дней
    }
plans-title = 📦 <b>Тарифы</b> (активных: { $count }):
plans-empty = 📦 Активных тарифов нет. Создайте тариф кнопкой ➕ Новый тариф (Админка → Тарифы), командой <code>vpnkeeper plan add</code> или через API.
plan-card =
    📦 <b>{ $name }</b> (#{ $id })
    Срок: { $days ->
        [one] { $days } день
        [few] { $days } дня
       *[other] { $days } дней
    }
    Трафик: { $quota }
    Устройства: { $devices }
    Сброс: { $reset }
    Цена: { $stars } ⭐
plan-unlimited = без ограничений
plan-archived = 🗄 В архиве: больше не предлагается.
user-plans-title = Какой тариф назначить пользователю <b>{ $name }</b>? Тот же тариф ещё раз продлевает его.
plan-unavailable = Извините, этот тариф больше недоступен. Вот актуальные.
err-device-limit = достигнут лимит тарифа: { $limit } устройств(а). Отзовите старое в разделе «Мои устройства», чтобы получить новое.
## Создание и правка тарифов в боте (issue #15)
btn-plan-new = ➕ Новый тариф
btn-plan-edit = ✏️ Изменить
btn-plan-save = ✅ Сохранить
btn-unlimited = ♾ Без ограничений
btn-days = { $days ->
        [one] { $days } день
        [few] { $days } дня
       *[other] { $days } дней
    }
btn-edit-name = ✏️ Название
btn-edit-days = ✏️ Срок
btn-edit-quota = ✏️ Трафик
btn-edit-reset = ✏️ Сброс
btn-edit-reset-day = ✏️ День сброса
btn-edit-devices = ✏️ Устройства
plan-new-title = 📦 <b>Новый тариф</b>
plan-edit-title = ✏️ <b>Правка тарифа #{ $id }</b>
plan-draft =
    Название: { $name }
    Срок: { $days }
    Трафик: { $quota }
    Сброс: { $reset }
    Устройства: { $devices }
plan-ask-name = Введите название тарифа (1–64 символа). /cancel — отмена.
plan-ask-days = Сколько он длится? Выберите или введите число дней от 1 до 36500.
plan-ask-quota = Трафик за период? Выберите или введите размер, например 500M, 50G или 1T (0 — без ограничений).
plan-ask-reset = Когда обнулять израсходованный трафик?
plan-ask-reset-day = В какой день месяца? (31 — последний день в коротких месяцах.)
plan-ask-devices = Сколько устройств у пользователя? Выберите или введите 0–10000 (0 — без ограничений).
plan-confirm = Проверьте тариф: измените любое поле или сохраните. У пользователей на этом тарифе условия сохранятся до продления.
plan-saved = ✅ Тариф сохранён.
plan-bad-name = ⚠️ Название: 1–64 символа, не только цифры, без управляющих символов. Ничего не изменено; введите другое.
plan-name-taken = ⚠️ Тариф с таким названием уже есть. Ничего не изменено; введите другое название.
plan-bad-days = ⚠️ Срок: целое число дней от 1 до 36500. Ничего не изменено.
plan-bad-quota = ⚠️ Трафик: размер вроде 500M, 50G или 1T, либо 0 — без ограничений (не больше 1 EiB). Ничего не изменено.
plan-bad-reset-day = ⚠️ День сброса: число месяца от 1 до 31. Ничего не изменено.
plan-bad-devices = ⚠️ Устройства: целое число от 0 (без ограничений) до 10000. Ничего не изменено.
plan-use-buttons = ⚠️ Пожалуйста, выберите кнопкой.
reset-no-reset = никогда
reset-day = ежедневно
reset-week = еженедельно, в понедельник
reset-month = ежемесячно, 1-го числа
reset-year = ежегодно, 1 января
reset-month-rolling = ежемесячно, в день начала тарифа
reset-day-of-month = ежемесячно, в выбранный день
reset-on-day = ежемесячно, { $day }-го числа
## Напоминания (issue #15, remind)
btn-renew = 🔄 Продлить
reminder-expires-3d = ⏳ Доступ к VPN закончится через 3 дня, { $date }. Продлите его, чтобы остаться на связи.
reminder-expires-1d = ⏳ Доступ к VPN закончится завтра, { $date }. Продлите его, чтобы остаться на связи.
reminder-expired = ⛔ Доступ к VPN закончился { $date }. Продлите его, чтобы снова подключиться.
reminder-quota-80 = 📶 Использовано 80% трафика этого периода ({ $quota }).
reminder-quota-100 = 📶 Трафик этого периода израсходован полностью ({ $quota }). VPN приостановлен до следующего сброса или продления.
# Голосовые сообщения в поддержку (issue #17)
voice-pending = 🎤 Голосовое сообщение ({ $seconds } с), расшифровывается…
voice-caption = 🎤 Обращение №{ $id }
voice-transcript-head = 🎤 Обращение №{ $id } (id { $tg }): расшифровка голосового ({ $seconds } с)
voice-transcript = «{ $text }»
voice-not-transcribed = Не удалось расшифровать: { $reason }. Прослушайте голосовое выше.
voice-fail-too-long = слишком длинное ({ $seconds } с, предел { $limit } с)
voice-fail-silent = тишина
voice-fail-no-speech = речь не распознана
voice-fail-off = расшифровка выключена ({ $detail })
voice-fail-bad-audio = файл не читается как голосовое ({ $detail })
voice-fail-download = файл не скачался ({ $detail })
voice-fail-model = ошибка модели речи ({ $detail })
backup-caption = 🗄 Плановая резервная копия кластера { $cluster }, { $time }
    { $size } · пользователей { $users } · устройств { $devices } · узлов { $nodes }
    Зашифрована ключом кластера: vpnkeeper restore --from FILE --cluster-key cluster.key
backup-failed = ⚠️ Плановая резервная копия НЕ создана: { $reason }
# node operations (issue #14)
btn-speedtest = 📶 Тест скорости
reboot-confirm-expired = Подтверждение устарело или уже использовано; ничего не сделано. Нажмите «Перезагрузить» ещё раз.
reboot-confirm-invalid = Это подтверждение недействительно; ничего не сделано. Нажмите «Перезагрузить» в карточке узла.
reboot-back = ✅ Узел { $name } снова в сети.
reboot-not-back = ⚠️ Узел { $name } не вернулся за 15 минут; проверьте его консоль.
speedtest-started = Тест скорости запущен: около 15 секунд.
speedtest-result = 📶 Тест скорости узла { $name }:
speedtest-line = 📶 ↓ { $down } Мбит/с · ↑ { $up } Мбит/с · RTT { $rtt } мс
speedtest-http = 🌐 { $url }: { $mbps } Мбит/с
speedtest-http-failed = 🌐 HTTP-тест не удался: { $reason }
speedtest-running = ⏳ Тест узла { $name } уже идёт; повторите, когда он закончится.
speedtest-failed = ⚠️ Тест скорости узла { $name } не удался: { $reason }
# ---- node telemetry (issue #14) ----
node-now =
    ЦП: { $cpu } % · нагрузка { $load }
    Память: { $ram_used } из { $ram_total }
    Диск: { $disk_used } из { $disk_total }
    Сеть: ↓ { $rx } ↑ { $tx } Мбит/с
    Работает: { $uptime } · vpnkeeper занимает { $rss }
node-plane-peers = Пиры { $plane }: активны { $active } из { $configured }
node-seen-at = Последний раз на связи: { $time } UTC ({ $ago } назад)
node-never-seen = Последний раз на связи: никогда
chart-caption = 📈 <b>{ $name }</b>: процессор и сеть, { $range }
chart-offline = 🔴 <b>{ $name }</b> не отвечает, графика нет. { $seen }
chart-range-1h = 1 ч
chart-range-6h = 6 ч
chart-range-24h = 24 ч
chart-time-axis = Время (UTC)
chart-cpu = Процессор
chart-cpu-axis = ЦП, %
chart-net = Сеть
chart-net-axis = Сеть, Мбит/с
chart-net-rx = принято
chart-net-tx = отправлено
chart-ram = Память
chart-ram-axis = Память, ГиБ
chart-no-data = данных пока нет
unit-days = { $n } д
unit-hours = { $n } ч
unit-minutes = { $n } мин
# вывод узла (issue #14 item 6)
btn-drain = 🚧 Вывести (без новых устройств)
btn-undrain = ✅ Снова принимать устройства
node-draining = 🚧 Выводится: новые устройства сюда не размещаются, текущие остаются.

## Оплата звёздами Telegram (issue #16)
btn-buy = ⭐ Купить или продлить
btn-buy-plan = 📦 { $name } · { $days } дн. · { $price } ⭐
buy-title = ⭐ <b>Тарифы</b>: выберите тариф для оплаты звёздами Telegram.
buy-empty = Сейчас нет тарифов в продаже.
invoice-description = Доступ к VPN на { $days } дн.
invoice-discount = С учётом скидки по промокоду { $percent }%.
precheckout-unknown = Этот счёт неизвестен или устарел. Откройте «Купить» заново.
precheckout-paid = Этот счёт уже оплачен.
precheckout-archived = Этот тариф больше не продаётся. Откройте «Купить» заново.
precheckout-amount = Сумма не совпадает с предложением. Откройте «Купить» заново.
payment-done = ✅ Оплата { $stars } ⭐ получена: { $plan }, +{ $days } дн. Доступ до { $until }.
refund-done = ↩️ { $stars } ⭐ возвращены за { $plan }; { $days } дн. списаны. Доступ до { $until }.
payment-unrecognized = ⚠️ Этот платёж не совпадает ни с одним нашим счётом. Напишите в поддержку.
btn-payments = 💳 Платежи
payments-title = 💳 <b>Платежи</b> (сначала новые)
payments-empty = Платежей пока нет.
payment-line = #{ $id } · { $stars } ⭐ · пользователь { $user } · { $status } · { $date }
payment-paid = оплачен
payment-refund-pending = возврат в процессе
payment-refunded = возвращён
payment-refund-failed = возврат не удался
btn-refund = ↩️ Вернуть #{ $id }
payment-gone = Такого платежа нет.
payment-refund-error = Последний возврат отклонён: { $reason }
refund-confirm = Вернуть { $stars } ⭐ и списать { $days } дн.?
btn-yes-refund = ✅ Да, вернуть
refund-requested = ⏳ Возврат #{ $id } запрошен; ответ Telegram появится в списке.
stats-revenue = 💰 Выручка: сегодня { $today } ⭐ · 7 дн. { $week } ⭐ · 30 дн. { $month } ⭐

## Балансы, промокоды, пробный период, рефералы (issue #16)
btn-account = 💰 Баланс и приглашения
btn-promo = 🎟 Промокод
btn-trial = 🎁 Пробный период
account = 💰 Ваш баланс: { $stars } ⭐
    🎟 Есть промокод? Отправьте <code>/promo КОД</code>.

    👥 Приглашайте друзей по своей ссылке:
    { $link }
    Приглашено: { $referred }, с наградой: { $rewarded }.
promo-how-to = 🎟 Отправьте промокод так: <code>/promo КОД</code>.
promo-bad-code = ⚠️ Это не промокод: коды — это 3–32 латинские буквы, цифры, - или _.
promo-days = ✅ Промокод применён: дополнительные дни — { $days }.
promo-traffic = ✅ Промокод применён: дополнительный трафик — { $size }.
promo-discount = ✅ Промокод применён: скидка { $percent }% на следующую покупку.
promo-list-title = 🎟 Промокоды (использовано / максимум):
promo-list-empty = Промокодов пока нет.
trial-started = 🎁 Пробный период начался: дней — { $days }.
trial-used = Пробный период для этого аккаунта Telegram уже был использован.
referral-own = 👥 Это ваша собственная ссылка-приглашение: поделитесь ею с друзьями.
referral-not-new = 👥 Ссылки-приглашения действуют только для новых пользователей.
balance-changed = ✅ Баланс пользователя { $user }: { $stars } ⭐
admin-usage = ⚠️ Формат: <code>{ $usage }</code>
