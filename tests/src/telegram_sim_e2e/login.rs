//! Telegram (simulated backend) e2e: logging in by phone and QR, logging out, restarts,
//! disconnects, revoked sessions and calls.

use super::*;

#[tokio::test]
async fn test_login_reasks_wrong_number_and_code_then_2fa_cancel_and_fresh_login_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-login")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tglogin").await;
    command(&mut user, &room, &bot, "help", "`login").await;

    command(&mut user, &room, &bot, "login", "+4412345678").await;
    let again = command(&mut user, &room, &bot, "0712345678", "international format").await;
    assert!(again["content"]["body"].as_str().unwrap().contains("+4412345678"), "re-asks with an example: {again}");
    command(&mut user, &room, &bot, "cancel", "Login cancelled").await;

    // A fresh login starts over, at the phone number.
    command(&mut user, &room, &bot, "login", "phone number").await;
    command(&mut user, &room, &bot, TWO_FA_PHONE, "login code").await;
    command(&mut user, &room, &bot, "99999", "code is wrong").await;
    command(&mut user, &room, &bot, LOGIN_CODE, "two-step verification").await;
    let wrong = command(&mut user, &room, &bot, "not it", "password is wrong").await;
    assert!(wrong["content"]["body"].as_str().unwrap().contains("hint: a horse"), "{wrong}");
    let done = command(&mut user, &room, &bot, TWO_FA_PASSWORD, "Logged in as").await;
    assert!(done["content"]["body"].as_str().unwrap().contains("(+15550002222)"), "name and phone: {done}");
    command(&mut user, &room, &bot, "list-logins", "telegram:15550002222").await;
    let help = command(&mut user, &room, &bot, "help", "`login").await;
    let help = help["content"]["body"].as_str().unwrap();
    for listed in ["`logout", "`pm ", "`sync"] {
        assert!(help.contains(listed), "{listed} in {help}");
    }
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_cancel_at_the_code_and_at_the_password_then_a_fresh_login_works_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-cancel")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgcancel").await;

    command(&mut user, &room, &bot, "login", "phone number").await;
    command(&mut user, &room, &bot, TWO_FA_PHONE, "login code").await;
    command(&mut user, &room, &bot, "cancel", "Login cancelled").await;
    // After the cancel a code is no longer taken as one.
    user.send_text(&room, LOGIN_CODE).await;
    command(&mut user, &room, &bot, "list-logins", "You have no logins").await;

    command(&mut user, &room, &bot, "login", "phone number").await;
    command(&mut user, &room, &bot, TWO_FA_PHONE, "login code").await;
    command(&mut user, &room, &bot, LOGIN_CODE, "two-step verification").await;
    command(&mut user, &room, &bot, "cancel", "Login cancelled").await;
    user.send_text(&room, TWO_FA_PASSWORD).await;
    command(&mut user, &room, &bot, "list-logins", "You have no logins").await;

    command(&mut user, &room, &bot, "login", "phone number").await;
    command(&mut user, &room, &bot, TWO_FA_PHONE, "login code").await;
    command(&mut user, &room, &bot, LOGIN_CODE, "two-step verification").await;
    command(&mut user, &room, &bot, TWO_FA_PASSWORD, "Logged in as").await;
    command(&mut user, &room, &bot, "list-logins", "telegram:15550002222").await;
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_qr_login_completes_when_scanned_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-qr")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgqr").await;
    user.send_text(&room, "login qr").await;
    // The QR code is an image whose caption is the code's text, for clients without images.
    user.wait_for_event(&room, WAIT, |ev| {
        ev["sender"] == bot.as_str()
            && ev["content"]["msgtype"] == "m.image"
            && ev["content"]["body"].as_str().is_some_and(|b| b.contains("tg://login?token="))
    })
    .await
    .expect("a QR image captioned with the code");
    let phone = random_phone();
    assert!(b.sim.scan_qr(user.user_id.as_str(), &phone), "a QR login waits for the scan");
    command(&mut user, &room, &bot, "", "Logged in as").await;
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_qr_login_of_an_account_with_a_password_asks_for_it_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-qr-2fa")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgqr2fa").await;
    user.send_text(&room, "login qr").await;
    user.wait_for_event(&room, WAIT, |ev| ev["sender"] == bot.as_str() && ev["content"]["msgtype"] == "m.image").await.expect("a QR code");
    assert!(b.sim.scan_qr(user.user_id.as_str(), TWO_FA_PHONE), "a QR login waits for the scan");
    user.wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "two-step verification")).await.expect("the password is asked");
    command(&mut user, &room, &bot, "not it", "password is wrong").await;
    let done = command(&mut user, &room, &bot, TWO_FA_PASSWORD, "Logged in as").await;
    assert!(done["content"]["body"].as_str().unwrap().contains("+15550002222"), "{done}");
    command(&mut user, &room, &bot, "list-logins", "telegram:15550002222").await;
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_logout_ends_the_session_and_a_new_login_works_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-logout")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tglogout").await;
    let phone = random_phone();
    let account = login(&mut user, &room, &bot, &phone).await;
    command(&mut user, &room, &bot, "logout", "Logged out").await;
    wait_action(&b.sim, |a| *a == SimAction::LoggedOut { account }).await;
    assert!(!b.sim.is_connected(account));
    command(&mut user, &room, &bot, "list-logins", "You have no logins").await;
    command(&mut user, &room, &bot, "sync", "needs you to be logged in").await;
    login(&mut user, &room, &bot, &phone).await;
    command(&mut user, &room, &bot, "sync", "Synced 4 recent chats").await;
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_an_unconfirmed_logout_tells_the_user_to_end_the_session_in_telegram_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-logout-fails")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tglogoutfail").await;
    let phone = random_phone();
    let account = login(&mut user, &room, &bot, &phone).await;
    b.sim.fail_next_logout(account);
    user.send_text(&room, "logout").await;
    let told = user
        .wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "Settings → Devices"))
        .await
        .expect("the user is told to end the session in the Telegram app");
    assert!(told["content"]["body"].as_str().unwrap().contains("did not confirm the logout"), "{told}");
    user.wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "Logged out")).await.expect("the login is gone from the bridge");
    assert!(!b.sim.actions().contains(&SimAction::LoggedOut { account }), "Telegram never confirmed");
    command(&mut user, &room, &bot, "list-logins", "You have no logins").await;
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_restart_restores_the_login_without_a_new_login_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = state_dir("tg-restart");
    let b = start(&dir).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgrestart").await;
    let account = login(&mut user, &room, &bot, &random_phone()).await;
    let echo = join_portal(&mut user, "with Echo", |m, _| m.contains(&ghost(ECHO))).await;
    b.bridge.stop().await;

    // A new bridge process: a new simulated Telegram, the session comes from the store.
    let b = start(&dir).await;
    crate::harness::wait::wait_until(WAIT, Duration::from_millis(50), || {
        let up = b.sim.is_connected(account);
        async move { up.then_some(()) }
    })
    .await
    .expect("the stored session connects by itself");
    user.send_text(&echo, "after restart").await;
    user.wait_for_event(&echo, WAIT, |ev| ev["content"]["body"] == "echo: after restart").await.expect("the portal and login survived");
    command(&mut user, &room, &bot, "list-logins", "connected").await;
    b.bridge.stop().await;
}

#[tokio::test]
async fn test_disconnect_revoked_session_and_calls_are_shown_to_the_user_sim() {
    let _one = ONE_AT_A_TIME.lock().await;
    let b = start(&state_dir("tg-faults")).await;
    let bot = bot(&b);
    let (mut user, room) = management_room(&b, "tgfaults").await;
    let account = login(&mut user, &room, &bot, &random_phone()).await;
    user.wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "Connected to Telegram")).await.expect("first connection");

    // A disconnect that outlasts the notice delay (2 s in the fixture) is shown, and so is the reconnect.
    assert!(b.sim.drop_connection(account, Duration::from_secs(4)));
    user.wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "Lost the connection")).await.expect("the disconnect is shown");
    user.wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "Connected to Telegram")).await.expect("the reconnect is shown");

    // A call: the user is told once.
    assert!(b.sim.call(account, ALICE, 77));
    assert!(b.sim.call(account, ALICE, 77));
    let alice = join_portal(&mut user, "with Alice", |m, name| name.is_null() && m.contains(&ghost(ALICE))).await;
    user.wait_for_event(&alice, WAIT, |ev| ev["content"]["body"].as_str().is_some_and(|b| b.contains("Calls are not bridged")))
        .await
        .expect("the call notice");
    user.send_text(&alice, "marker").await;
    user.wait_for_event(&alice, WAIT, |ev| ev["content"]["body"] == "marker").await.expect("own message");
    assert!(
        user.wait_for_event(&alice, Duration::from_secs(1), |ev| ev["content"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("Calls are not bridged")))
            .await
            .is_err(),
        "told only once per call"
    );

    // A session terminated from another device: the user is asked to log in again.
    assert!(b.sim.revoke(account));
    user.wait_for_event(&room, WAIT, |ev| is_notice(ev, &bot, "was logged out")).await.expect("the revoked session is shown");
    b.bridge.stop().await;
}
