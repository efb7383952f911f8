export default window.MagicWand;
