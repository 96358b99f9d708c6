// Order entry page (admin/orders/order/entry.html): customer and product look-ups with live
// available stock per warehouse. A static file (the CSP allows no inline scripts).
(function () {
  "use strict";

  function debounce(fn, ms) {
    let timer = null;
    return function () {
      const args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  function getJSON(url, params) {
    const query = new URLSearchParams(params).toString();
    return fetch(url + "?" + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; });
  }

  function init() {
    const form = document.getElementById("order-entry");
    if (!form) { return; }
    const productsUrl = form.dataset.productsUrl;
    const customersUrl = form.dataset.customersUrl;
    const clientSelect = form.querySelector("[name=client]");
    const datalist = document.getElementById("sku-options");
    const clientId = function () { return clientSelect ? clientSelect.value : ""; };

    // -- customers ---------------------------------------------------------------------------
    const nameInput = form.querySelector("[name=customer_name]");
    const idInput = form.querySelector("[name=customer_id]");
    const emailInput = form.querySelector("[name=customer_email]");
    const phoneInput = form.querySelector("[name=customer_phone]");
    const list = document.getElementById("customer-suggestions");
    const chosen = document.getElementById("customer-chosen");

    function choose(c) {
      idInput.value = c.id;
      nameInput.value = c.name;
      emailInput.value = c.email || "";
      phoneInput.value = c.phone || "";
      list.hidden = true;
      chosen.hidden = false;
      chosen.textContent = "Existing customer: " + c.name + (c.email ? " <" + c.email + ">" : "") +
        (c.phone ? " · " + c.phone : "") + " (" + c.tier + ")";
      const shipName = form.querySelector("[name=ship_to_name]");
      if (shipName && !shipName.value) { shipName.value = c.name; }
    }

    const findCustomers = debounce(function () {
      const term = nameInput.value.trim();
      if (!clientId() || term.length < 2) { list.hidden = true; return; }
      getJSON(customersUrl, { client: clientId(), q: term }).then(function (data) {
        list.replaceChildren();
        if (!data || !data.customers.length) { list.hidden = true; return; }
        data.customers.forEach(function (c) {
          const li = document.createElement("li");
          const b = document.createElement("button");
          b.type = "button";
          b.className = "bpo-customer-option";
          b.textContent = c.name + (c.email ? " <" + c.email + ">" : "") + (c.phone ? " · " + c.phone : "");
          b.addEventListener("click", function () { choose(c); });
          li.appendChild(b);
          list.appendChild(li);
        });
        list.hidden = false;
      });
    }, 250);

    if (nameInput) {
      nameInput.addEventListener("input", function () {
        idInput.value = "";
        chosen.hidden = true;
        findCustomers();
      });
    }

    // -- products and stock -----------------------------------------------------------------
    function showStock(row, product) {
      const cell = row.querySelector(".bpo-stock");
      const qty = parseInt(row.querySelector(".bpo-qty").value || "0", 10);
      cell.replaceChildren();
      if (!product) {
        cell.textContent = row.querySelector(".bpo-sku").value.trim() ? "unknown SKU" : "";
        return;
      }
      const parts = product.stock.length
        ? product.stock.map(function (s) { return s.warehouse + " " + s.available; }).join(" · ")
        : "no stock anywhere";
      const span = document.createElement("span");
      span.textContent = product.name + ": " + parts;
      cell.appendChild(span);
      if (qty > product.available) {
        const short = document.createElement("span");
        short.className = "bpo-short";
        short.textContent = " — short " + (qty - product.available) + " (will be backordered)";
        cell.appendChild(short);
      }
    }

    function refreshRow(row) {
      const sku = row.querySelector(".bpo-sku").value.trim();
      if (!sku || !clientId()) { showStock(row, null); return; }
      getJSON(productsUrl, { client: clientId(), sku: sku }).then(function (data) {
        let product = data && data.products.length ? data.products[0] : null;
        if (!product) {
          // a name or a SKU in another case: take the single match, if any
          getJSON(productsUrl, { client: clientId(), q: sku }).then(function (d2) {
            if (d2 && d2.products.length === 1) {
              row.querySelector(".bpo-sku").value = d2.products[0].sku;
              showStock(row, d2.products[0]);
            } else {
              showStock(row, null);
            }
          });
          return;
        }
        showStock(row, product);
      });
    }

    const suggestProducts = debounce(function (term) {
      if (!clientId() || term.length < 2) { return; }
      getJSON(productsUrl, { client: clientId(), q: term }).then(function (data) {
        if (!data) { return; }
        datalist.replaceChildren();
        data.products.forEach(function (p) {
          const option = document.createElement("option");
          option.value = p.sku;
          option.label = p.name + " — " + p.available + " available";
          datalist.appendChild(option);
        });
      });
    }, 200);

    form.querySelectorAll(".bpo-line").forEach(function (row) {
      const skuInput = row.querySelector(".bpo-sku");
      const qtyInput = row.querySelector(".bpo-qty");
      const refresh = debounce(function () { refreshRow(row); }, 300);
      skuInput.addEventListener("input", function () { suggestProducts(skuInput.value.trim()); refresh(); });
      skuInput.addEventListener("change", function () { refreshRow(row); });
      qtyInput.addEventListener("input", refresh);
      if (skuInput.value) { refreshRow(row); }
    });

    if (clientSelect) {
      clientSelect.addEventListener("change", function () {
        datalist.replaceChildren();
        idInput.value = "";
        form.querySelectorAll(".bpo-line").forEach(refreshRow);
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
