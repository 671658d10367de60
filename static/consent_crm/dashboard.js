// The dashboard's choice of trend shows at once when picked (no inline handler: CSP
// script-src 'self'). Without scripts, the form's own "Show" button does it.
document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("select[data-submit-on-change]")) {
    select.addEventListener("change", () => select.form.submit());
  }
});
