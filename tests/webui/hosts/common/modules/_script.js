() => {
    // The host's page helpers an extension's UI relies on (script.js, ui.js and
    // inputAccordion.js in A1111 and Forge): gradioApp(), updateInput() and the InputAccordion
    // wiring — a visible checkbox in the accordion's label that drives the hidden one.
    window.gradioApp = function() {
        const app = document.querySelector("gradio-app");
        return app && app.shadowRoot ? app.shadowRoot : document;
    };
    window.updateInput = function(target) {
        const event = new Event("input", {bubbles: true});
        Object.defineProperty(event, "target", {value: target});
        target.dispatchEvent(event);
    };
    window.inputAccordionChecked = function(id, checked) {
        const accordion = document.getElementById(id);
        if (!accordion || !accordion.visibleCheckbox) {
            return;
        }
        accordion.visibleCheckbox.checked = checked;
        accordion.onVisibleCheckboxChange();
    };
    const setup = function(accordion) {
        const labelWrap = accordion.querySelector(".label-wrap");
        const hidden = document.querySelector("#" + accordion.id + "-checkbox input");
        if (accordion.visibleCheckbox || !labelWrap || !hidden) {
            return;
        }
        const span = labelWrap.querySelector("span");
        let linked = true;
        const isOpen = () => labelWrap.classList.contains("open");
        const box = document.createElement("input");
        box.type = "checkbox";
        box.checked = isOpen();
        box.id = accordion.id + "-visible-checkbox";
        box.className = "input-accordion-checkbox";
        span.insertBefore(box, span.firstChild);
        accordion.visibleCheckbox = box;
        accordion.onVisibleCheckboxChange = function() {
            if (linked && isOpen() !== box.checked) {
                labelWrap.click();
            }
            hidden.checked = box.checked;
            updateInput(hidden);
        };
        new MutationObserver(function() {
            accordion.classList.toggle("input-accordion-open", isOpen());
            if (linked) {
                box.checked = isOpen();
                accordion.onVisibleCheckboxChange();
            }
        }).observe(labelWrap, {attributes: true, attributeFilter: ["class"]});
        box.addEventListener("click", function(event) {
            linked = false;
            event.stopPropagation();
        });
        box.addEventListener("input", accordion.onVisibleCheckboxChange);
    };
    const start = function() {
        const found = document.querySelectorAll(".input-accordion");
        if (!found.length) {
            setTimeout(start, 100);
            return;
        }
        found.forEach(setup);
        document.body.dataset.uiLoaded = "1";
    };
    start();
}
