// Log-in and the hash router: #/fleet, #/device/ID, #/sessions. Each page is a module
// exporting show(main, live, params) that returns a function tearing it down.
import * as api from "./api.js";
import * as fleet from "./fleet.js";
import * as device from "./device.js";
import * as sessions from "./sessions.js";

const main = document.getElementById("main");
let live = null;
let teardown = () => {};

function route() {
  teardown();
  main.replaceChildren();
  const [, page, arg] = location.hash.split("/");
  if (page === "device" && arg) teardown = device.show(main, live, decodeURIComponent(arg));
  else if (page === "sessions") teardown = sessions.show(main, live);
  else teardown = fleet.show(main, live);
}

function showLogin() {
  main.replaceChildren(document.getElementById("login-template").content.cloneNode(true));
  const form = document.getElementById("login");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("key");
    try {
      const me = await api.login(input.value);
      input.value = "";
      start(me);
    } catch (err) {
      document.getElementById("login-error").textContent =
        err.status === 401 || err.status === 403 ? `Refused: ${err.message}` : err.message;
    }
  });
}

function start(me) {
  document.getElementById("nav").hidden = false;
  document.getElementById("who").textContent = `${me.name} (${me.role})`;
  const link = document.getElementById("link");
  live = new api.Live((state) => { link.textContent = state; });
  window.addEventListener("hashchange", route);
  route();
}

document.getElementById("logout").addEventListener("click", async () => {
  await api.logout();
  location.reload();
});

const me = await api.whoami();
if (me) start(me); else showLogin();
